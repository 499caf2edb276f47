using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Tiers;
using Memvisor.Machine.Content;
using Memvisor.Machine.Tiers;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor;

/// <summary>The tiering scanner's decisions on single pages: hot after two scans running, written pages at once when write-aware, cold pages making room.</summary>
public class TieringDaemonTests
{
    private const long Second = 1_000_000_000;

    private static (Memvisor.Hypervisor.Host Hv, Memvisor.Hypervisor.Domains.Domain D) Host(bool writeAware, long dramFrames = 4096)
    {
        var hv = TestHost.CreateTiered([(MemoryKind.Dram, dramFrames), (MemoryKind.Nvm, 4096)],
            tiering: new TieringOptions { Enabled = true, ColdScans = 2, MovesPerScan = 16, WriteAware = writeAware });
        var d = TestHost.Domain(hv, "g", 64, 64);
        return (hv, d);
    }

    private static int NodeOf(Memvisor.Hypervisor.Host hv, Memvisor.Hypervisor.Domains.Domain d, ulong gfn) => hv.Machine.NodeOf(d.P2m.Get(gfn).Mfn);

    [Fact]
    public void A_page_read_in_two_scans_running_is_promoted_and_one_read_once_is_not()
    {
        var (hv, d) = Host(writeAware: false);
        var port = hv.PortFor(d);
        foreach (ulong g in new ulong[] { 5, 6 }) Assert.Equal(XenErrno.Ok, hv.MigratePage(d.DomId, g, 1));
        port.Touch(new Gfn(5), write: false, ContentHandle.Zero);
        port.Touch(new Gfn(6), write: false, ContentHandle.Zero);
        hv.Step(Second);
        Assert.Equal((1, 1), (NodeOf(hv, d, 5), NodeOf(hv, d, 6)));
        port.Touch(new Gfn(5), write: false, ContentHandle.Zero);
        hv.Step(Second);
        // Gfn 5 was accessed in both scans: hot, promoted to the guest's node; gfn 6 only in the first.
        Assert.Equal((0, 1), (NodeOf(hv, d, 5), NodeOf(hv, d, 6)));
        Assert.Equal((2L, 1L, 0L), (hv.Tiering.Stats.Scans, hv.Tiering.Stats.Promoted, hv.Tiering.Stats.WritePromoted));
        // The scanner cleared its own accessed bit only: the paging clock's is still set, the moved page's kept too.
        Assert.True(d.P2m.Get(6).Accessed && d.P2m.Get(5).Accessed);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void Write_aware_tiering_brings_a_page_written_on_nvm_home_at_once()
    {
        foreach (bool aware in new[] { false, true })
        {
            var (hv, d) = Host(aware);
            Assert.Equal(XenErrno.Ok, hv.MigratePage(d.DomId, 7, 1));
            hv.PortFor(d).Touch(new Gfn(7), write: true, ContentHandle.Synthetic(ContentClass.Incompressible, 3));
            hv.Step(Second);
            Assert.Equal(aware ? 0 : 1, NodeOf(hv, d, 7));
            Assert.Equal(aware ? 1 : 0, hv.Tiering.Stats.WritePromoted);
        }
    }

    [Fact]
    public void A_full_node_makes_room_by_demoting_a_cold_page()
    {
        // The guest's node holds exactly what the hypervisor, the domain and its reserve took: no frame is free there.
        var (hv, d) = Host(writeAware: false);
        var port = hv.PortFor(d);
        Assert.Equal(XenErrno.Ok, hv.MigratePage(d.DomId, 9, 1));
        while (hv.Machine.TryAllocateOn(0, 0, Memvisor.Machine.Frames.DomIds.Xen, out _)) { }
        // Gfn 9 is hot on NVM; every other page of the guest goes cold.
        for (int scan = 0; scan < 3; scan++)
        {
            port.Touch(new Gfn(9), write: false, ContentHandle.Zero);
            hv.Step(Second);
        }
        Assert.Equal(0, NodeOf(hv, d, 9));
        Assert.Equal(1, hv.Tiering.Stats.Demoted);
        Assert.Equal(1, Enumerable.Range(0, 64).Count(g => g != 9 && NodeOf(hv, d, (ulong)g) == 1));
    }

    // TMO's offloading on a 64-page guest: a floor of 8 frames, a probe every scan.
    private static (Memvisor.Hypervisor.Host Hv, Memvisor.Hypervisor.Domains.Domain D) Pressured(long targetNs)
    {
        var hv = TestHost.CreateTiered([(MemoryKind.Dram, 4096), (MemoryKind.Nvm, 4096)],
            tiering: new TieringOptions { Enabled = true, ColdScans = 2, MovesPerScan = 64, PressureTargetNs = targetNs, PressureProbeEvery = 0, PressureFloorPages = 8 });
        return (hv, TestHost.Domain(hv, "g", 64, 64));
    }

    [Fact]
    public void Under_little_pressure_cold_pages_are_offloaded_and_hot_ones_stay()
    {
        var (hv, d) = Pressured(10_000_000);
        var port = hv.PortFor(d);
        for (int scan = 0; scan < 40; scan++)
        {
            for (ulong g = 0; g < 8; g++) port.Touch(new Gfn(g), write: false, ContentHandle.Zero);
            hv.Step(Second);
        }
        var s = hv.Tiering.Stats;
        var onNvm = Enumerable.Range(0, 64).Where(g => NodeOf(hv, d, (ulong)g) == 1).ToList();
        // The limit fell a frame a scan from the domain's pages (its first scan only counts): the pages above it are on NVM.
        Assert.Equal(39, s.PressureProbes);
        Assert.Equal(0, s.PressureBackoffs);
        Assert.True(onNvm.Count >= 20, $"{onNvm.Count} pages offloaded");
        Assert.Equal(onNvm.Count, s.Offloaded);
        Assert.DoesNotContain(onNvm, g => g < 8);
        Assert.Equal(0, s.Promoted);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void Stall_above_the_target_backs_the_limit_off_so_hot_pages_come_home_and_probing_resumes_once_they_have()
    {
        var (hv, d) = Pressured(1_000);
        var port = hv.PortFor(d);
        for (ulong g = 0; g < 8; g++) Assert.Equal(XenErrno.Ok, hv.MigratePage(d.DomId, g, 1));
        for (int scan = 0; scan < 4; scan++)
        {
            for (ulong g = 0; g < 8; g++) port.Touch(new Gfn(g), write: false, ContentHandle.Zero);
            hv.Step(Second);
        }
        var s = hv.Tiering.Stats;
        // Scan 2 finds the stall of the hot pages' NVM reads above the target and backs off; the hot pages come home;
        // scans 3 and 4 find no stall and tighten the limit a frame each, offloading a cold page each.
        Assert.Equal((1L, 2L, 2L, 8L), (s.PressureBackoffs, s.PressureProbes, s.Offloaded, s.Promoted));
        Assert.All(Enumerable.Range(0, 8), g => Assert.Equal(0, NodeOf(hv, d, (ulong)g)));
    }
}
