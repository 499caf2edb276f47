using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Personalities;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor.Personalities;

/// <summary>2 MiB pages on first touch (ESX's large pages, Linux's THP under KVM) and how each hypervisor's sharing breaks them.</summary>
public class LargePageTests
{
    private const int Region = P2mTable.LeafEntries;
    private static readonly ContentHandle Text = ContentHandle.Synthetic(ContentClass.KernelText, 7);

    private static Host Host(HostPersonality p, long frames = 32768, bool? largePages = null) =>
        new(new MachineMemory(frames, 1), new CostModel(), () => 0, new OvercommitOptions
        {
            Personality = p,
            LargePages = largePages,
            Sharing = new SharingOptions { Enabled = true, InterVm = true, UseZeroPages = true },
        });

    private static Domain OnDemand(Host hv, string name, long pages) =>
        TestHost.Domain(hv, name, pages, pages, AllocationMode.OnDemand);

    // A ballast domain takes frames until the host has `free` left.
    private static void FillTo(Host hv, long free)
    {
        var ballast = TestHost.Domain(hv, "ballast", 0, hv.Machine.TotalFrames);
        for (ulong g = 0; hv.Machine.FreeFrames > free; g++)
            Assert.Equal(XenErrno.Ok, hv.MemoryOp.PopulatePhysmap(ballast.DomId, [g], 0));
    }

    [Theory]
    [InlineData("esx")]
    [InlineData("kvm")]
    public void A_first_touch_takes_a_whole_2MiB_page_where_the_region_is_untouched_and_one_page_without_large_pages(string name)
    {
        var p = HostPersonality.Find(name)!;
        using var hv = Host(p);
        var d = OnDemand(hv, "vm", 4 * Region);
        Assert.Equal(AccessOutcome.PopulatedOnDemand, hv.PortFor(d).Touch(new Gfn(Region + 5), true, Text));
        Assert.Equal(Region, d.TotPages);
        Assert.Equal(1, d.Stats.LargePagesPopulated);
        Assert.True(d.P2m.IsSuperpage(Region));
        // The other 511 pages of the 2 MiB page read as zeros: the frame was scrubbed before it was handed over.
        var page = new byte[PageSize.Bytes];
        Assert.True(hv.PortFor(d).ReadPage(new Gfn(Region + 6), page));
        Assert.All(page, b => Assert.Equal(0, b));
        Assert.Empty(Auditor.Check(hv));

        using var small = Host(p, largePages: false);
        var s = OnDemand(small, "vm", 4 * Region);
        small.PortFor(s).Touch(new Gfn(Region + 5), true, Text);
        Assert.Equal(1, s.TotPages);
        Assert.Equal(0, s.Stats.LargePagesPopulated);
    }

    [Fact]
    public void A_region_the_guest_has_already_touched_or_a_host_without_a_free_2MiB_block_gets_a_4KiB_page()
    {
        using var hv = Host(HostPersonality.Esx, largePages: false);
        var d = OnDemand(hv, "vm", 2 * Region);
        hv.PortFor(d).Touch(new Gfn(3), true, Text);
        Assert.Equal(1, d.TotPages);

        // The region is no longer untouched, and the heap has no 2 MiB block: both faults fall back to one page.
        using var frag = Host(HostPersonality.Kvm, frames: 4096);
        var f = OnDemand(frag, "vm", 2 * Region);
        var ballast = TestHost.Domain(frag, "ballast", 0, 4096);
        for (ulong g = 0; frag.Machine.FreeFrames > 0; g++) frag.MemoryOp.PopulatePhysmap(ballast.DomId, [g], 0);
        // Give back every other frame: plenty free, but no two adjacent.
        for (ulong g = 0; g < 600; g += 2) frag.MemoryOp.DecreaseReservation(ballast.DomId, [g], 0);
        frag.Machine.Scrubber.Step(10_000);
        Assert.Equal(AccessOutcome.PopulatedOnDemand, frag.PortFor(f).Touch(new Gfn(7), true, Text));
        Assert.Equal(1, f.TotPages);
        Assert.Equal(0, f.Stats.LargePagesPopulated);
        Assert.Empty(Auditor.Check(frag));
    }

    [Fact]
    public void Esx_keeps_large_pages_whole_until_free_memory_falls_below_400_percent_of_minFree_then_breaks_them_to_share()
    {
        using var hv = Host(HostPersonality.Esx);
        var d = OnDemand(hv, "vm", 2 * Region);
        hv.PortFor(d).Touch(new Gfn(0), true, Text);
        Assert.True(d.P2m.IsSuperpage(0));
        long threshold = EsxMinFree.BreakLargePagesAt * EsxMinFree.Pages(hv.Machine.TotalFrames);
        Assert.True(hv.Machine.FreeFrames >= threshold);

        // Plenty free: a whole scan shares none of the 511 zero pages inside the large page.
        hv.Sharing.Step(1_000_000_000);
        Assert.Equal(0, hv.Sharing.Stats.ZeroPages);
        Assert.True(hv.Sharing.Stats.LargePageSkips > 0);
        Assert.False(hv.Sharing.ScanGfn(d, 9));
        Assert.True(d.P2m.IsSuperpage(0));
        Assert.Equal(Region, d.TotPages);

        // Below the High state's threshold the large page is broken and its zero pages shared.
        FillTo(hv, threshold - 1);
        Assert.True(hv.Sharing.ScanGfn(d, 9));
        Assert.False(d.P2m.IsSuperpage(0));
        Assert.Equal(1, d.P2m.LargePagesBroken);
        for (ulong g = 10; g < Region; g++) hv.Sharing.ScanGfn(d, g);
        Assert.Equal(Region - 9, hv.Sharing.Stats.ZeroPages);
        Assert.True(d.TotPages < 16, $"tot_pages {d.TotPages}: the large page's zero pages should have gone to the zero frame");
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void Esx_minFree_follows_the_vSphere_sliding_scale()
    {
        // About 899 MB for the first 28 GB (the figure VMware's guides round to), 1,597.36 MB for 96 GB (the worked
        // example of the vSphere 5 sliding scale: 245.76 + 327.68 + 327.68 + 696.32).
        Assert.InRange(PageSize.ToKiB(EsxMinFree.Pages(PageSize.FromBytes(28L << 30))) / 1024.0, 899, 902);
        Assert.InRange(PageSize.ToKiB(EsxMinFree.Pages(PageSize.FromBytes(96L << 30))) / 1024.0, 1596.5, 1598);
        Assert.Equal(PageSize.FromBytes((long)(0.06 * (2L << 30))), EsxMinFree.Pages(PageSize.FromBytes(2L << 30)));
    }

    [Fact]
    public void Ksm_splits_a_transparent_huge_page_when_it_merges_a_page_in_it_with_plenty_of_memory_free()
    {
        using var hv = Host(HostPersonality.Kvm);
        var a = OnDemand(hv, "a", 2 * Region);
        var b = OnDemand(hv, "b", 2 * Region);
        hv.PortFor(a).Touch(new Gfn(Region + 3), true, Text);
        hv.PortFor(b).Touch(new Gfn(Region + 3), true, Text);
        Assert.True(a.P2m.IsSuperpage(Region) && b.P2m.IsSuperpage(Region));
        Assert.True(hv.Machine.FreeFrames > hv.Machine.TotalFrames / 2);

        Assert.False(hv.Sharing.ScanGfn(a, Region + 3));
        Assert.True(hv.Sharing.ScanGfn(b, Region + 3));
        Assert.Equal(P2mType.Shared, b.P2m.Get(Region + 3).Type);
        // b's huge page is split to map the merged page; the nested walk loses its 2 MiB level there.
        Assert.False(b.P2m.IsSuperpage(Region));
        Assert.Equal(1, b.P2m.LargePagesBroken);
        // a's page became the shared frame: its huge page is split too.
        Assert.False(a.P2m.IsSuperpage(Region));
        Assert.Equal(1, a.P2m.LargePagesBroken);
        Assert.Empty(Auditor.Check(hv));

        // Destroying a domain breaks no more of its large pages.
        hv.DestroyDomain(a.DomId);
        Assert.Equal(1, a.P2m.LargePagesBroken);
    }

    [Fact]
    public void A_2MiB_extent_of_a_static_build_counts_as_broken_when_the_balloon_takes_a_page_of_it_whatever_looked_at_it_before()
    {
        using var hv = Host(HostPersonality.Xen);
        var d = TestHost.Domain(hv, "vm", 2 * Region, 2 * Region);
        Assert.Equal(XenErrno.Ok, hv.MemoryOp.DecreaseReservation(d.DomId, [Region + 7], 0));
        Assert.Equal(1, d.P2m.LargePagesBroken);
        Assert.True(d.P2m.IsSuperpage(0));
        Assert.Equal(1, d.P2m.CountSuperpages());
    }

    [Fact]
    public void Esx_with_large_pages_off_shares_a_static_domains_pages_with_plenty_of_memory_free()
    {
        using var hv = Host(HostPersonality.Esx, largePages: false);
        var d = TestHost.Domain(hv, "vm", 2 * Region, 2 * Region);
        Assert.True(d.P2m.IsSuperpage(0) && hv.Machine.FreeFrames > hv.Machine.TotalFrames / 2);
        Assert.True(hv.Sharing.ScanGfn(d, 5));
        Assert.Equal(0, hv.Sharing.Stats.LargePageSkips);
    }
}
