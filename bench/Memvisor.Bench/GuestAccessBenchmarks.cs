using BenchmarkDotNet.Attributes;
using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;
using Memvisor.Guest.Workloads;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Machine;
using Memvisor.Machine.Time;
using Memvisor.Hypervisor;

namespace Memvisor.Bench;

/// <summary>
/// A guest process's load, end to end through its domain's MMU: the guest kernel's access path, the vCPU's
/// translation in the domain's mode and the port's touch of the page. The loads go over 512 pages already mapped,
/// so they hit the TLB, or over the whole 16 MiB heap (4096 pages, twice the TLB), so about half miss it and walk.
/// </summary>
[MemoryDiagnoser]
public class GuestAccessBenchmarks
{
    private const int Batch = 4096;
    private GuestKernel _k = null!;
    private Process _p = null!;
    private ulong _heap;
    private readonly ulong[] _near = new ulong[Batch];
    private readonly ulong[] _far = new ulong[Batch];

    [Params(MmuMode.Pv, MmuMode.Shadow3, MmuMode.Hap)]
    public MmuMode Mode { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var hv = new Host(new MachineMemory(1L << 18, 1), new CostModel(), () => 0);
        hv.CreateDomain(new DomainConfig { Name = "bench", MemoryPages = 64 << 10, MaxPages = 64 << 10, Sharing = false, Mmu = new MmuOptions { Mode = Mode } }, out var d);
        _k = new GuestKernel("bench", hv.PortFor(d!), new IdleWorkload(), new GuestOptions { KernelTextPages = 512 }, new CostModel(), 1, onDemand: false);
        _k.Boot();
        _p = _k.Spawn("bench")!;
        _heap = _k.MapAnonymous(_p, 4096);
        for (ulong i = 0; i < 4096; i++) _k.Access(_p, _heap + (i << 12), write: true);
        var rng = new Memvisor.Machine.Randomness.DeterministicRandom(3);
        for (int i = 0; i < Batch; i++)
        {
            _near[i] = _heap + (rng.NextBelow(512) << 12);
            _far[i] = _heap + (rng.NextBelow(4096) << 12);
        }
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public void LoadTlbHit()
    {
        foreach (ulong a in _near) _k.Access(_p, a, write: false);
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public void LoadMostlyMisses()
    {
        foreach (ulong a in _far) _k.Access(_p, a, write: false);
    }
}
