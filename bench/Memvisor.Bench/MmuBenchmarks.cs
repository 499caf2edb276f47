using BenchmarkDotNet.Attributes;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Hypervisor.Mmu.Pv;
using Memvisor.Machine;
using Memvisor.Machine.Time;
using Memvisor.Hypervisor;
using Memvisor.Seam;

namespace Memvisor.Bench;

/// <summary>
/// The MMU's hot paths: a translation that hits the TLB, a one-dimensional walk (the shadow's) and a two-dimensional
/// one (nested, caches off), and mmu_update entries validated.
/// </summary>
[MemoryDiagnoser]
public class MmuBenchmarks
{
    private const int Pages = 512;
    private const ulong Flags = X86Pte.Present | X86Pte.Writable | X86Pte.User;
    private GuestMmu _hap = null!, _hapNoCache = null!, _shadow = null!;
    private PvMmu _pv = null!;
    private MmuUpdate[] _map = null!, _unmap = null!;
    private XenErrno[] _results = null!;
    private readonly ulong[] _vpns = new ulong[Pages];

    [GlobalSetup]
    public void Setup()
    {
        _hap = Build(MmuMode.Hap, caches: true);
        _hapNoCache = Build(MmuMode.Hap, caches: false);
        _shadow = Build(MmuMode.Shadow3, caches: false);
        for (int i = 0; i < Pages; i++) _vpns[i] = (ulong)i;
        foreach (var m in new[] { _hap, _hapNoCache, _shadow })
            foreach (ulong v in _vpns) m.Translate(new Vpn(v), write: false);
        // PV: one pinned L1 with 512 entries to map and unmap by mmu_update.
        _pv = (PvMmu)Build(MmuMode.Pv, caches: true, out var hv, out var d);
        uint l1 = d.P2m.Get(3).Mfn;
        _map = new MmuUpdate[Pages];
        _unmap = new MmuUpdate[Pages];
        for (int i = 0; i < Pages; i++)
        {
            _map[i] = new MmuUpdate(l1, i, X86Pte.Make(d.P2m.Get(1024 + (ulong)i).Mfn, Flags));
            _unmap[i] = new MmuUpdate(l1, i, 0);
        }
        _results = new XenErrno[Pages];
        for (int i = 0; i < Pages; i++) hv.Machine.WriteWord(l1, i, 0);
        if (_pv.Pin(3, 1) != XenErrno.Ok) throw new InvalidOperationException("The benchmark's L1 did not pin.");
    }

    private static GuestMmu Build(MmuMode mode, bool caches) => Build(mode, caches, out _, out _);

    // A domain whose tables map vpns 0..511 to gfns 1024.. through tables at gfns 0..3.
    private static GuestMmu Build(MmuMode mode, bool caches, out Host hv, out Domain domain)
    {
        hv = new Host(new MachineMemory(1 << 16, 1), new CostModel(), () => 0);
        hv.CreateDomain(new DomainConfig { Name = "bench", MemoryPages = 8192, MaxPages = 8192 }, out var d);
        domain = d!;
        var mmu = hv.AttachMmu(domain, new MmuOptions { Mode = mode, WalkCaches = caches, NestedSuperpages = false, TlbEntries = 1024 });
        if (mode == MmuMode.Pv) return mmu;
        const ulong table = X86Pte.Present | X86Pte.Writable | X86Pte.User | X86Pte.Accessed;
        mmu.WriteEntry(0, 0, X86Pte.Make(1, table));
        mmu.WriteEntry(1, 0, X86Pte.Make(2, table));
        mmu.WriteEntry(2, 0, X86Pte.Make(3, table));
        for (int i = 0; i < Pages; i++) mmu.WriteEntry(3, i, X86Pte.Make(1024 + (ulong)i, Flags | X86Pte.Accessed));
        mmu.SwitchAddressSpace(0, 1);
        return mmu;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public ulong TlbHit()
    {
        ulong x = 0;
        foreach (ulong v in _vpns) x ^= _hap.Translate(new Vpn(v), write: false).Gfn.Value;
        return x;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public ulong Walk1D()
    {
        ulong x = 0;
        _shadow.Tlb.FlushAll();
        foreach (ulong v in _vpns) x ^= _shadow.Translate(new Vpn(v), write: false).Gfn.Value;
        return x;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public ulong Walk2D()
    {
        ulong x = 0;
        _hapNoCache.Tlb.FlushAll();
        foreach (ulong v in _vpns) x ^= _hapNoCache.Translate(new Vpn(v), write: false).Gfn.Value;
        return x;
    }

    // 512 entries validated and then 512 dropped: 1024 updates per invoke.
    [Benchmark(OperationsPerInvoke = 2 * Pages)]
    public XenErrno MmuUpdateValidated()
    {
        _pv.MmuUpdateOp(_map, _results);
        return _pv.MmuUpdateOp(_unmap, _results);
    }
}
