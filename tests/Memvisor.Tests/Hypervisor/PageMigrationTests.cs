using Memvisor.Hypervisor.Accounting;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Tiers;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor;

/// <summary>A guest page moved between memory nodes: its bytes, gfn and accounting stay; the move is costed (copy, shootdowns) and a page that cannot move is left alone.</summary>
public class PageMigrationTests
{
    [Fact]
    public void A_moved_page_keeps_its_bytes_and_is_costed_as_a_copy_and_a_shootdown_per_vcpu()
    {
        var hv = TestHost.CreateTiered([(MemoryKind.Dram, 4096), (MemoryKind.Nvm, 4096)]);
        var config = new Memvisor.Hypervisor.Domains.DomainConfig { Name = "g", MemoryPages = 256, MaxPages = 256, Vcpus = 4 };
        Assert.Equal(XenErrno.Ok, hv.CreateDomain(config, out var d));
        var port = hv.PortFor(d!);
        // Real bytes, a synthetic page, and a page of private bytes (written a word at a time).
        var real = new byte[PageSize.Bytes];
        new Random(1).NextBytes(real);
        Assert.True(port.WritePage(new Gfn(1), real));
        port.Touch(new Gfn(2), write: true, ContentHandle.Synthetic(ContentClass.Incompressible, 77));
        Assert.True(port.WriteWord(new Gfn(3), 5, 0xfeed));
        var before = new List<byte[]>();
        for (ulong g = 1; g <= 3; g++)
        {
            var b = new byte[PageSize.Bytes];
            Assert.True(port.ReadPage(new Gfn(g), b));
            before.Add(b);
        }
        long tot = d!.TotPages, free1 = hv.Machine.Nodes[1].FreePages;
        double hvNs = d.Stats.HypervisorNs;
        for (ulong g = 1; g <= 3; g++)
        {
            Assert.Equal(0, hv.Machine.NodeOf(d.P2m.Get(g).Mfn));
            Assert.Equal(XenErrno.Ok, hv.MigratePage(d.DomId, g, 1));
            Assert.Equal(1, hv.Machine.NodeOf(d.P2m.Get(g).Mfn));
            var after = new byte[PageSize.Bytes];
            Assert.True(port.ReadPage(new Gfn(g), after));
            Assert.Equal(before[(int)g - 1], after);
        }
        Assert.Equal((tot, free1 - 3), (d.TotPages, hv.Machine.Nodes[1].FreePages));
        var m = hv.PageMigrations;
        Assert.Equal((3L, 0L, 3L, 12L), (m.Migrated, m.Promoted, m.Demoted, m.Shootdowns));
        // Each copy is bound by NVM's 6.6 GB/s (620 ns a page, above page_copy_ns), each vCPU's shootdown costs tlb_shootdown_ns.
        double copy = 4096e9 / TierDefaults.Nvm.BandwidthBytesPerSecond;
        Assert.Equal(3 * (copy + 4 * hv.Costs.TlbShootdownNs), d.Stats.HypervisorNs - hvNs, 3);
        // Back to DRAM: a promotion; a page already there stays where it is, uncounted.
        Assert.Equal(XenErrno.Ok, hv.MigratePage(d.DomId, 1, 0));
        Assert.Equal(XenErrno.Ok, hv.MigratePage(d.DomId, 1, 0));
        Assert.Equal((4L, 1L), (hv.PageMigrations.Migrated, hv.PageMigrations.Promoted));
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void A_page_that_cannot_move_is_refused_and_left_alone()
    {
        var hv = TestHost.CreateTiered([(MemoryKind.Dram, 4096), (MemoryKind.Cxl, 300)]);
        var d = TestHost.Domain(hv, "g", 512, 1024);
        var other = TestHost.Domain(hv, "o", 64, 64);
        // A page another domain has mapped through a grant.
        Assert.Equal(XenErrno.Ok, hv.Grants.SetupTable(d.DomId, 1));
        Assert.Equal(XenErrno.Ok, hv.Grants.GrantAccess(d.DomId, 1, other.DomId, 10, readOnly: true));
        Assert.Equal(XenErrno.Ok, hv.PortFor(other).DecreaseReservation([20], 0));
        Assert.Equal(XenErrno.Ok, hv.Grants.Map(other.DomId, d.DomId, 1, 20, readOnly: true, out _));
        string before = TestHost.Fingerprint(hv);
        Assert.Equal(XenErrno.EBUSY, hv.MigratePage(d.DomId, 10, 1));
        Assert.Equal(XenErrno.EINVAL, hv.MigratePage(d.DomId, 600, 1)); // never populated
        Assert.Equal(XenErrno.EINVAL, hv.MigratePage(d.DomId, 11, 2)); // no such node
        Assert.Equal(XenErrno.EINVAL, hv.MigratePage(other.DomId, 20, 1)); // another's page, mapped
        Assert.Equal(before, TestHost.Fingerprint(hv));
        // A full node: the domain's pages move until the CXL node has none left, the rest stay on DRAM.
        long moved = hv.MigrateDomainPages(d.DomId, 1, out long stayed);
        Assert.Equal((300L, 212L, 0L), (moved, stayed, hv.Machine.Nodes[1].FreePages));
        Assert.Equal(4 + 212, hv.PageMigrations.Refused);
        Assert.Empty(Auditor.Check(hv));
    }
}
