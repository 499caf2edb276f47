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
}
