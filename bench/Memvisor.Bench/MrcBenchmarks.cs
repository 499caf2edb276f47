using BenchmarkDotNet.Attributes;
using Memvisor.Guest.Mrc;

namespace Memvisor.Bench;

/// <summary>The predictive policy's guest-side cost: one page reference into the sampled stack-distance tracker.</summary>
[MemoryDiagnoser]
public class MrcBenchmarks
{
    private const int Batch = 4096;
    private readonly ulong[] _keys = new ulong[Batch];
    private StackDistanceTracker _tracker = null!;

    [GlobalSetup]
    public void Setup()
    {
        // A 2 GiB guest touching a 512 MiB working set uniformly: every sampled key comes back at stack distance ~8192.
        _tracker = new StackDistanceTracker(physicalPages: 512 << 10);
        var rng = new Memvisor.Machine.Randomness.DeterministicRandom(3);
        for (int i = 0; i < Batch; i++) _keys[i] = rng.NextBelow(128 << 10);
        for (int round = 0; round < 64; round++)
            foreach (ulong k in _keys) _tracker.Record(k);
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public void Record()
    {
        foreach (ulong k in _keys) _tracker.Record(k);
    }
}
