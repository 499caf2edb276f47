using BenchmarkDotNet.Attributes;
using Memvisor.Hypervisor.Domains;
using Memvisor.Seam;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Time;
using Memvisor.Hypervisor;

namespace Memvisor.Bench;

/// <summary>The guest access hot path: a p2m lookup, and a guest touch (read or write) of a populated page.</summary>
[MemoryDiagnoser]
public class TranslationBenchmarks
{
    private const int Batch = 4096;
    private Host _hv = null!;
    private Domain _domain = null!;
    private IGuestMemory _port = null!;
    private readonly ulong[] _gfns = new ulong[Batch];

    [GlobalSetup]
    public void Setup()
    {
        _hv = new Host(new MachineMemory(1L << 20, 2), new CostModel(), () => 0);
        _hv.CreateDomain(new DomainConfig { Name = "bench", MemoryPages = 512 << 10, MaxPages = 512 << 10 }, out var d);
        _domain = d!;
        _port = _hv.PortFor(_domain);
        var rng = new Memvisor.Machine.Randomness.DeterministicRandom(2);
        for (int i = 0; i < Batch; i++) _gfns[i] = rng.NextBelow(512 << 10);
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public uint P2mLookup()
    {
        uint x = 0;
        foreach (ulong g in _gfns) x ^= _domain.P2m.Get(g).Mfn;
        return x;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public void GuestWrite()
    {
        for (int i = 0; i < Batch; i++)
            _port.Touch(new Gfn(_gfns[i]), write: true, ContentHandle.Synthetic(ContentClass.Compressible, (ulong)i + 1));
    }
}
