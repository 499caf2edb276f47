using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Personalities;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Time;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor.Personalities;

/// <summary>Xen's populate-on-demand (p2m-pod.c): a cache of memory frames at build, first touches served from it, a sweep of zero pages when it is empty, and a crash when that finds none.</summary>
public class XenPodTests
{
    private static readonly ContentHandle Data = ContentHandle.Synthetic(ContentClass.Compressible, 7);

    // A guest without a balloon driver: its memory map is all of maxmem, its cache only memory.
    private static Domain PodDomain(Host hv, long memory, long maxmem)
    {
        var config = new DomainConfig { Name = "pod", MemoryPages = memory, MaxPages = maxmem, Allocation = AllocationMode.OnDemand, PhysmapPages = maxmem };
        Assert.Equal(XenErrno.Ok, hv.CreateDomain(config, out var d));
        return d!;
    }

    [Fact]
    public void A_pod_domain_is_built_with_a_cache_of_its_memory_and_first_touches_take_from_it_not_the_heap()
    {
        var hv = TestHost.Create();
        long free = hv.Machine.FreeFrames;
        var d = PodDomain(hv, 256, 1024);
        Assert.Equal(256, d.Pod!.Count);
        Assert.Equal(256, d.TotPages);
        Assert.Equal(1024, d.PodPages);
        Assert.Equal(free - 256 - d.ReservePages, hv.Machine.FreeFrames);
        long afterBuild = hv.Machine.FreeFrames;
        var port = hv.PortFor(d);
        for (ulong g = 0; g < 100; g++) Assert.Equal(AccessOutcome.PopulatedOnDemand, port.Touch(new Gfn(g), true, Data));
        Assert.Equal(afterBuild, hv.Machine.FreeFrames);
        Assert.Equal(156, d.Pod.Count);
        Assert.Equal(256, d.TotPages);
        Assert.Equal(100, d.Pod.Stats.Served);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void A_guest_that_touches_beyond_its_cache_with_no_zero_page_to_sweep_is_crashed_and_refused_from_then_on()
    {
        var hv = TestHost.Create();
        var d = PodDomain(hv, 64, 512);
        var port = hv.PortFor(d);
        for (ulong g = 0; g < 64; g++) Assert.NotEqual(AccessOutcome.Refused, port.Touch(new Gfn(g), true, Data));
        Assert.False(d.IsCrashed);
        Assert.Equal(AccessOutcome.Refused, port.Touch(new Gfn(64), true, Data));
        Assert.True(d.IsCrashed);
        Assert.Equal(1, d.Pod!.Stats.Sweeps);
        Assert.Equal(64, d.Pod.Stats.PagesChecked);
        Assert.Contains(hv.Events.Kept, e => e.Domain == "pod" && e.Message.Contains("out of PoD memory"));
        // A crashed domain's vCPUs no longer run: even a page it has is refused.
        Assert.Equal(AccessOutcome.Refused, port.Touch(new Gfn(3), false, ContentHandle.Zero));
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void When_the_cache_is_empty_the_sweep_takes_the_guest_s_zero_pages_back_and_the_touch_is_served()
    {
        var hv = TestHost.Create();
        var d = PodDomain(hv, 64, 512);
        var port = hv.PortFor(d);
        // Half the pages the guest touched hold zeros (written and then cleared, as a freed heap page is).
        for (ulong g = 0; g < 64; g++) port.Touch(new Gfn(g), true, g % 2 == 0 ? ContentHandle.Zero : Data);
        Assert.Equal(0, d.Pod!.Count);
        Assert.Equal(AccessOutcome.PopulatedOnDemand, port.Touch(new Gfn(100), true, Data));
        Assert.False(d.IsCrashed);
        Assert.True(d.Pod.Stats.ZeroReclaimed > 0);
        // The swept gfns are populate-on-demand again; the pages with data are untouched.
        Assert.Contains(Enumerable.Range(0, 64), g => d.P2m.Get((ulong)g).Type == P2mType.PopulateOnDemand);
        for (ulong g = 1; g < 64; g += 2) Assert.Equal(P2mType.Ram, d.P2m.Get(g).Type);
        Assert.Equal(64, d.TotPages);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void A_build_whose_cache_cannot_be_covered_fails_whole_on_xen_but_builds_on_kvm_where_memory_comes_at_first_touch()
    {
        var xen = TestHost.Create(frames: 4096);
        string before = TestHost.Fingerprint(xen);
        var config = new DomainConfig { Name = "big", MemoryPages = 6000, MaxPages = 8192, Allocation = AllocationMode.OnDemand };
        Assert.Equal(XenErrno.ENOMEM, xen.CreateDomain(config, out var none));
        Assert.Null(none);
        Assert.Equal(before, TestHost.Fingerprint(xen));

        var kvm = TestHost.Create(frames: 4096, personality: HostPersonality.Kvm);
        Assert.Equal(XenErrno.Ok, kvm.CreateDomain(config, out var d));
        Assert.Equal(0, d!.TotPages);
        Assert.Null(d.Pod);
    }

    [Fact]
    public void Ballooning_out_a_pod_guest_s_pages_puts_them_in_its_cache_until_it_holds_more_than_it_owes()
    {
        var hv = TestHost.Create();
        var d = PodDomain(hv, 128, 256);
        var port = hv.PortFor(d);
        for (ulong g = 0; g < 128; g++) port.Touch(new Gfn(g), true, Data);
        long free = hv.Machine.FreeFrames;
        // The guest gives back 64 touched pages: the cache holds them until it owes fewer entries than it holds.
        var gfns = Enumerable.Range(0, 64).Select(g => (ulong)g).ToArray();
        Assert.Equal(XenErrno.Ok, port.DecreaseReservation(gfns, 0));
        Assert.Equal(0, hv.Machine.FreeFrames - free);
        Assert.Equal(64, d.Pod!.Count);
        Assert.Equal(P2mType.Invalid, d.P2m.Get(5).Type);
        // A lower target leaves the cache alone (p2m_pod_set_mem_target: T' < B is the balloon's to do).
        Assert.Equal(XenErrno.Ok, hv.DomCtl.SetTarget(d.DomId, 96));
        Assert.Equal(64, d.Pod.Count);
        // The guest gives back 100 of its 128 untouched PoD gfns: it owes 28 pages, so 36 cache frames go back.
        var untouched = Enumerable.Range(128, 100).Select(g => (ulong)g).ToArray();
        Assert.Equal(XenErrno.Ok, port.DecreaseReservation(untouched, 0));
        Assert.Equal(28, d.PodPages);
        Assert.Equal(28, d.Pod.Count);
        Assert.Equal(36, hv.Machine.FreeFrames - free);
        Assert.Equal(64 + 28, d.TotPages);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void Destroying_a_pod_domain_returns_its_cache_to_the_heap()
    {
        var hv = TestHost.Create();
        long free = hv.Machine.FreeFrames;
        var d = PodDomain(hv, 200, 400);
        hv.PortFor(d).Touch(new Gfn(1), true, Data);
        Assert.Equal(XenErrno.Ok, hv.DestroyDomain(d.DomId));
        Assert.Equal(free, hv.Machine.FreeFrames);
    }

    [Fact]
    public void Xenpaging_a_pod_guest_s_zero_page_keeps_it_in_swap_so_the_cache_never_owes_more_than_it_holds()
    {
        using var hv = new Host(new MachineMemory(16384, 1), new CostModel(), () => 0,
            new OvercommitOptions { Paging = new Memvisor.Hypervisor.Paging.PagingOptions { Configured = true, SwapPages = 1024 } });
        var d = PodDomain(hv, 64, 512);
        var port = hv.PortFor(d);
        for (ulong g = 0; g < 64; g++) port.Touch(new Gfn(g), true, g == 9 ? ContentHandle.Zero : Data);
        long owed = d.PodPages;
        Assert.True(hv.Paging.Evict(d, 9));
        Assert.Equal(P2mType.PagedOut, d.P2m.Get(9).Type);
        Assert.Equal(owed, d.PodPages);
        var page = new byte[Memvisor.Machine.Frames.PageSize.Bytes];
        Assert.True(port.ReadPage(new Gfn(9), page));
        Assert.All(page, b => Assert.Equal(0, b));
        Assert.False(d.IsCrashed);
        Assert.Empty(Auditor.Check(hv));
    }
}
