using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor;

/// <summary>xl save of a Xen populate-on-demand domain: each PoD entry is populated from the cache as the save reads it (P2M_ALLOC).</summary>
public class PodSaveTests
{
    // A PoD guest without a balloon driver: its p2m shows all 64 pages of maxmem, its cache holds 32 frames.
    private static Domain PodGuest(Host hv)
    {
        var config = new DomainConfig { Name = "pod", MemoryPages = 32, MaxPages = 64, Allocation = AllocationMode.OnDemand, PhysmapPages = 64, Mmu = new MmuOptions { Mode = MmuMode.Hap } };
        Assert.Equal(XenErrno.Ok, hv.CreateDomain(config, out var d));
        return d!;
    }

    [Fact]
    public void A_saved_pod_domain_comes_back_populated_without_a_cache_and_reads_what_was_written()
    {
        var hv = TestHost.Create(4096, 1);
        var d = PodGuest(hv);
        var port = hv.PortFor(d);
        // Ten pages written; the other 54 entries are PoD, 22 more than the cache holds after the writes.
        for (ulong g = 0; g < 10; g++) Assert.Equal(AccessOutcome.PopulatedOnDemand, port.Touch(new Gfn(g * 6), true, ContentHandle.Synthetic(ContentClass.Incompressible, g + 1)));
        Assert.Equal(54, d.P2m.PodEntries);
        using var image = new MemoryStream();
        Assert.Equal(XenErrno.Ok, hv.SaveDomain(d.DomId, image, out var saved, out var stats));
        // Every entry went as a page: the cache's 22 frames, then the sweep's zero pages taken back and handed out again.
        Assert.Equal((64L, 0L, 10L), (stats.Pages, stats.PodEntries, stats.HandlePages));
        Assert.Equal(54, stats.ZeroPages);
        Assert.Equal(XenErrno.Ok, hv.RestoreDomain(saved!, image, out var back, out _));
        Assert.Null(back!.Pod);
        Assert.Equal((64L, 0L), (back.TotPages, back.P2m.PodEntries));
        var page = new byte[PageSize.Bytes];
        var expected = new byte[PageSize.Bytes];
        for (ulong g = 0; g < 64; g++)
        {
            Assert.True(port.ReadPage(new Gfn(g), page));
            if (g % 6 == 0 && g < 60) hv.Machine.Contents.Read(ContentHandle.Synthetic(ContentClass.Incompressible, g / 6 + 1), expected);
            else Array.Clear(expected);
            Assert.True(page.AsSpan().SequenceEqual(expected), $"gfn {g} does not read what was written");
        }
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void A_pod_domain_whose_cache_and_sweep_run_dry_while_it_is_saved_is_crashed_and_not_destroyed()
    {
        var hv = TestHost.Create(4096, 1);
        var d = PodGuest(hv);
        var port = hv.PortFor(d);
        // All 32 cache frames hold non-zero pages: nothing for the sweep to take back.
        for (ulong g = 0; g < 32; g++) Assert.NotEqual(AccessOutcome.Refused, port.Touch(new Gfn(g), true, ContentHandle.Synthetic(ContentClass.Incompressible, g + 1)));
        Assert.Equal(32, d.P2m.PodEntries);
        using var image = new MemoryStream();
        Assert.Equal(XenErrno.EFAULT, hv.SaveDomain(d.DomId, image, out var saved, out _));
        Assert.Null(saved);
        Assert.True(d.IsCrashed);
        Assert.Same(d, hv.Find(d.DomId));
        Assert.Contains(hv.Events.Kept, e => e.Message.Contains("out of PoD memory", StringComparison.Ordinal));
        Assert.Empty(Auditor.Check(hv));
    }
}
