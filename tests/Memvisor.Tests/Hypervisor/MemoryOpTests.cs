using Memvisor.Hypervisor.Personalities;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.P2m;
using Memvisor.Seam;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Tests.Support;
using Memvisor.Hypervisor;
using Memvisor.Machine;
using Memvisor.Machine.Time;

namespace Memvisor.Tests.Hypervisor;

public class MemoryOpTests
{
    [Fact]
    public void A_static_domain_is_populated_in_full_with_zeroed_frames_and_a_reserve()
    {
        var hv = TestHost.Create();
        var d = TestHost.Domain(hv, "a", 1024, 2048);
        Assert.Equal(1024, d.TotPages);
        Assert.Equal(256 + 2 * 8, d.ReservePages);
        var port = hv.PortFor(d);
        var page = new byte[PageSize.Bytes];
        Assert.True(port.ReadPage(new Gfn(1023), page));
        Assert.True(page.All(b => b == 0));
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void Populating_over_max_pages_is_refused_with_E2BIG_and_changes_nothing()
    {
        var hv = TestHost.Create();
        var d = TestHost.Domain(hv, "a", 1000, 2000);
        Assert.Equal(XenErrno.Ok, hv.MemoryOp.MaxMem(d.DomId, 1005));
        string before = TestHost.Fingerprint(hv);
        Assert.Equal(XenErrno.E2BIG, hv.MemoryOp.PopulatePhysmap(d.DomId, [1000, 1001, 1002, 1003, 1004, 1005], 0));
        Assert.Equal(before, TestHost.Fingerprint(hv));
        Assert.Equal(1000, d.TotPages);
        Assert.Contains(hv.Refusals.Kept, r => r.Errno == XenErrno.E2BIG && r.Message.Contains("max_pages"));
        Assert.Equal(XenErrno.Ok, hv.MemoryOp.PopulatePhysmap(d.DomId, [1000, 1001, 1002, 1003, 1004], 0));
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void Populating_beyond_free_memory_is_refused_with_ENOMEM_and_changes_nothing()
    {
        var hv = TestHost.Create(frames: 4096, nodes: 1);
        var d = TestHost.Domain(hv, "a", 16, 8192);
        long free = hv.Machine.FreeFrames;
        var gfns = Enumerable.Range(100, (int)free + 1).Select(g => (ulong)g).ToArray();
        string before = TestHost.Fingerprint(hv);
        Assert.Equal(XenErrno.ENOMEM, hv.MemoryOp.PopulatePhysmap(d.DomId, gfns, 0));
        Assert.Equal(before, TestHost.Fingerprint(hv));
        Assert.Equal(XenErrno.Ok, hv.MemoryOp.PopulatePhysmap(d.DomId, gfns[..^1], 0));
        Assert.Equal(0, hv.Machine.FreeFrames);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void Bad_extents_are_refused_whole()
    {
        var hv = TestHost.Create();
        var d = TestHost.Domain(hv, "a", 0, 4096);
        string before = TestHost.Fingerprint(hv);
        Assert.Equal(XenErrno.EINVAL, hv.MemoryOp.PopulatePhysmap(d.DomId, [0, 1, 1], 0));       // named twice
        Assert.Equal(XenErrno.EINVAL, hv.MemoryOp.PopulatePhysmap(d.DomId, [512, 100], 9));      // misaligned
        Assert.Equal(XenErrno.EINVAL, hv.MemoryOp.PopulatePhysmap(d.DomId, [0], 10));            // order above 9
        Assert.Equal(XenErrno.EINVAL, hv.MemoryOp.PopulatePhysmap(d.DomId, [4096], 0));          // beyond the p2m
        Assert.Equal(XenErrno.EINVAL, hv.MemoryOp.DecreaseReservation(d.DomId, [5], 0));        // nothing there
        Assert.Equal(XenErrno.ESRCH, hv.MemoryOp.PopulatePhysmap(999, [0], 0));
        Assert.Equal(before, TestHost.Fingerprint(hv));
        Assert.Equal(6, hv.Refusals.Count);
    }

    [Fact]
    public void Decrease_reservation_frees_frames_scrub_pending_and_updates_p2m_and_m2p()
    {
        var hv = TestHost.Create();
        var d = TestHost.Domain(hv, "a", 512, 512);
        var port = hv.PortFor(d);
        port.Touch(new Gfn(7), write: true, ContentHandle.Synthetic(ContentClass.Incompressible, 3));
        uint mfn = d.P2m.Get(7).Mfn;
        Assert.Equal(7u, hv.M2p[mfn]);
        Assert.Equal(XenErrno.Ok, port.DecreaseReservation([7, 8], 0));
        Assert.Equal(510, d.TotPages);
        Assert.Equal(P2mType.Invalid, d.P2m.Get(7).Type);
        Assert.Equal(M2p.Invalid, hv.M2p[mfn]);
        Assert.Equal(1, hv.Machine.Scrubber.PendingFrames);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void Increase_reservation_returns_the_mfns_it_mapped()
    {
        var hv = TestHost.Create();
        var d = TestHost.Domain(hv, "a", 0, 2048);
        var mfns = new uint[2];
        Assert.Equal(XenErrno.Ok, hv.MemoryOp.IncreaseReservation(d.DomId, [0, 512], 9, mfns));
        Assert.Equal(1024, d.TotPages);
        Assert.Equal(mfns[1] + 5, d.P2m.Get(517).Mfn);
        Assert.Equal(0u, mfns[0] % 512);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void Exchange_trades_pages_for_a_contiguous_extent_of_the_same_size()
    {
        var hv = TestHost.Create();
        var d = TestHost.Domain(hv, "a", 0, 2048);
        var singles = Enumerable.Range(0, 512).Select(i => (ulong)(i * 2)).ToArray();
        Assert.Equal(XenErrno.Ok, hv.MemoryOp.PopulatePhysmap(d.DomId, singles, 0));
        string before = TestHost.Fingerprint(hv);
        Assert.Equal(XenErrno.EINVAL, hv.MemoryOp.Exchange(d.DomId, singles[..256], 0, [1024], 9));   // 256 pages for 512
        Assert.Equal(XenErrno.EINVAL, hv.MemoryOp.Exchange(d.DomId, [1, .. singles[1..]], 0, [1024], 9)); // gfn 1 holds nothing
        Assert.Equal(before, TestHost.Fingerprint(hv));
        Assert.Equal(XenErrno.Ok, hv.MemoryOp.Exchange(d.DomId, singles, 0, [1024], 9));
        Assert.Equal(512, d.TotPages);
        Assert.Equal(P2mType.Invalid, d.P2m.Get(0).Type);
        uint first = d.P2m.Get(1024).Mfn;
        for (ulong g = 0; g < 512; g++) Assert.Equal(first + (uint)g, d.P2m.Get(1024 + g).Mfn);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void On_a_first_touch_host_an_on_demand_page_is_backed_on_its_first_touch_only()
    {
        // With 4 KiB pages (host.large_pages: false); LargePageTests covers the 2 MiB first touch.
        var hv = new Host(new MachineMemory(16384, 2), new CostModel(), () => 0, new OvercommitOptions { Personality = HostPersonality.Kvm, LargePages = false });
        var d = TestHost.Domain(hv, "a", 1024, 2048, AllocationMode.OnDemand);
        Assert.Equal(0, d.TotPages);
        Assert.Equal(1024, d.PodPages);
        var port = hv.PortFor(d);
        Assert.Equal(AccessOutcome.PopulatedOnDemand, port.Touch(new Gfn(10), true, ContentHandle.Synthetic(ContentClass.Compressible, 1)));
        Assert.Equal(AccessOutcome.Hit, port.Touch(new Gfn(10), false, ContentHandle.Zero));
        Assert.Equal(AccessOutcome.Refused, port.Touch(new Gfn(1500), false, ContentHandle.Zero));
        Assert.Equal(1, d.TotPages);
        Assert.Equal(1023, d.PodPages);
        Assert.Equal(1, d.Stats.PodFaults);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void Max_mem_below_tot_pages_is_refused_and_raising_it_grows_the_reserve_and_address_space()
    {
        var hv = TestHost.Create();
        var d = TestHost.Domain(hv, "a", 1024, 1024);
        long reserve = d.ReservePages;
        Assert.Equal(XenErrno.EINVAL, hv.MemoryOp.MaxMem(d.DomId, 1000));
        Assert.Equal(XenErrno.Ok, hv.MemoryOp.MaxMem(d.DomId, 4096));
        Assert.Equal(4096ul, d.P2m.Capacity);
        Assert.True(d.ReservePages > reserve);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void Dom0_cannot_be_destroyed_nor_targeted_below_its_minimum()
    {
        var hv = TestHost.Create();
        hv.CreateDomain(new DomainConfig { Name = "Domain-0", MemoryPages = 1024, MaxPages = 1024, MinPages = 512, IsDom0 = true }, out var dom0);
        Assert.Equal(0, dom0!.DomId);
        Assert.Equal(XenErrno.EPERM, hv.DestroyDomain(0));
        Assert.Equal(XenErrno.EPERM, hv.DomCtl.SetTarget(0, 511));
        Assert.Equal(XenErrno.Ok, hv.DomCtl.SetTarget(0, 512));
        Assert.Equal(XenErrno.EINVAL, hv.DomCtl.SetTarget(0, 1025));
        Assert.Equal(512, dom0.TargetPages);
    }

    [Fact]
    public void Destroying_a_domain_returns_every_frame_and_its_dirty_frames_are_scrubbed_before_reuse()
    {
        var hv = TestHost.Create(frames: 4096, nodes: 1);
        long freeAtStart = hv.Machine.FreeFrames;
        var a = TestHost.Domain(hv, "a", 2048, 2048);
        var port = hv.PortFor(a);
        for (ulong g = 0; g < 2048; g += 3) port.Touch(new Gfn(g), true, ContentHandle.Synthetic(ContentClass.Incompressible, g + 1));
        Assert.Equal(XenErrno.Ok, hv.DestroyDomain(a.DomId));
        Assert.Equal(freeAtStart, hv.Machine.FreeFrames);
        Assert.Equal(683, hv.Machine.Scrubber.PendingFrames);
        var b = TestHost.Domain(hv, "b", 3000, 3000);
        var page = new byte[PageSize.Bytes];
        var bport = hv.PortFor(b);
        for (ulong g = 0; g < 3000; g++)
        {
            Assert.True(bport.ReadPage(new Gfn(g), page));
            Assert.True(page.All(x => x == 0), $"gfn {g} of the new domain holds the old domain's bytes");
        }
        Assert.Empty(Auditor.Check(hv));
    }
}
