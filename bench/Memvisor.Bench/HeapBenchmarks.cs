using BenchmarkDotNet.Attributes;
using Memvisor.Machine;
using Memvisor.Machine.Randomness;

namespace Memvisor.Bench;

/// <summary>Buddy allocator throughput: alloc/free pairs at order 0 and order 9 on a 16 GiB node that is half full and fragmented.</summary>
[MemoryDiagnoser]
public class HeapBenchmarks
{
    private const int Batch = 1024;
    private MachineMemory _machine = null!;
    private readonly uint[] _held = new uint[Batch];

    [Params(0, 9)]
    public int Order { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _machine = new MachineMemory(4L << 20, 1);
        // Fill half the node with single pages, then free a random quarter of them: a fragmented, realistic heap.
        var rng = new DeterministicRandom(1);
        var taken = new List<uint>();
        for (int i = 0; i < 2 << 20; i++)
        {
            _machine.TryAllocate(0, 0, 1, out uint mfn);
            taken.Add(mfn);
        }
        foreach (var mfn in taken)
            if (rng.NextBelow(4) == 0) _machine.Free(mfn, 0);
    }

    /// <summary>1024 allocations of 2^Order frames followed by their 1024 frees.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public void AllocFreePair()
    {
        for (int i = 0; i < Batch; i++) _machine.TryAllocate(Order, 0, 1, out _held[i]);
        for (int i = 0; i < Batch; i++) _machine.Free(_held[i], Order);
    }
}
