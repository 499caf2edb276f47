using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Compression;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Paging;
using Memvisor.Seam;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Hypervisor.Tmem;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Tests.Hypervisor.Paging;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor;

/// <summary>Each overcommit mechanism on its own: what it saves, what it costs, and that no byte is lost.</summary>
public class MechanismTests
{
    private static Host Host(OvercommitOptions options, long frames = 8192) =>
        new(new MachineMemory(frames, 1), new CostModel(), () => 0, options);

    private static byte[] Bytes(ContentHandle h)
    {
        var page = new byte[PageSize.Bytes];
        new ContentStore().Read(h, page);
        return page;
    }

    private static readonly ContentHandle Text = ContentHandle.Synthetic(ContentClass.Compressible, 42);
    private static readonly ContentHandle Noise = ContentHandle.Synthetic(ContentClass.Incompressible, 43);

    [Fact]
    public void Identical_pages_of_two_domains_share_one_frame_and_a_write_gets_a_private_copy()
    {
        using var hv = Host(new OvercommitOptions { Sharing = new SharingOptions { Enabled = true } });
        var a = TestHost.Domain(hv, "a", 64, 64);
        var b = TestHost.Domain(hv, "b", 64, 64);
        var pa = hv.PortFor(a);
        var pb = hv.PortFor(b);
        for (ulong g = 0; g < 8; g++)
        {
            pa.Touch(new Gfn(g), true, Text);
            pb.Touch(new Gfn(g), true, Text);
        }
        long free = hv.Machine.FreeFrames;
        for (ulong g = 0; g < 8; g++)
        {
            hv.Sharing.ScanGfn(a, g);
            hv.Sharing.ScanGfn(b, g);
        }
        // 16 identical pages become one shared frame: 15 frames saved (KSM: pages_shared 1, pages_sharing 15).
        Assert.Equal(1, hv.Sharing.Stats.PagesShared);
        Assert.Equal(15, hv.Sharing.Stats.PagesSharing);
        Assert.Equal(free + 15, hv.Machine.FreeFrames);
        Assert.Equal(64 - 8, a.TotPages);
        Assert.Equal(P2mType.Shared, a.P2m.Get(3).Type);

        Assert.Equal(AccessOutcome.Unshared, pa.Touch(new Gfn(3), true, Noise));
        var page = new byte[PageSize.Bytes];
        Assert.True(pa.ReadPage(new Gfn(3), page));
        Assert.Equal(Bytes(Noise), page);
        Assert.True(pb.ReadPage(new Gfn(3), page));
        Assert.Equal(Bytes(Text), page);
        Assert.Equal(1, hv.Sharing.Stats.CowBreaks);
        Assert.Equal(14, hv.Sharing.Stats.PagesSharing);
        Assert.True(pa.TakeStallNs() > 0, "a copy-on-write break is charged to the writer");
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void Zero_pages_map_to_one_zero_frame_and_pages_that_differ_stay_apart()
    {
        using var hv = Host(new OvercommitOptions { Sharing = new SharingOptions { Enabled = true } });
        var a = TestHost.Domain(hv, "a", 32, 32);
        var pa = hv.PortFor(a);
        pa.Touch(new Gfn(5), true, Text);
        pa.Touch(new Gfn(6), true, ContentHandle.Synthetic(ContentClass.Compressible, 99));
        for (ulong g = 0; g < 32; g++) hv.Sharing.ScanGfn(a, g);
        Assert.Equal(30, hv.Sharing.Stats.ZeroPages);
        Assert.Equal(29, hv.Sharing.SavedPages);
        Assert.Equal(0, hv.Sharing.Stats.PagesShared);
        Assert.Equal(P2mType.Ram, a.P2m.Get(5).Type);
        Assert.Equal(2, a.TotPages);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void A_shared_frame_takes_at_most_max_page_sharing_mappings()
    {
        using var hv = Host(new OvercommitOptions { Sharing = new SharingOptions { Enabled = true, MaxPageSharing = 4 } });
        var a = TestHost.Domain(hv, "a", 16, 16);
        var pa = hv.PortFor(a);
        for (ulong g = 0; g < 10; g++) pa.Touch(new Gfn(g), true, Text);
        for (ulong g = 0; g < 10; g++) hv.Sharing.ScanGfn(a, g);
        // Ten copies under a cap of four: frames of 4, 4 and 2 mappings.
        Assert.Equal(3, hv.Sharing.Stats.PagesShared);
        Assert.Equal(7, hv.Sharing.Stats.PagesSharing);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void Compressible_pages_go_to_the_cache_and_others_to_swap_and_both_come_back()
    {
        using var hv = Host(new OvercommitOptions { Compression = new CompressionOptions { Enabled = true, Codec = CompressionCodec.Lz4 } });
        var a = TestHost.Domain(hv, "a", 256, 256);
        var pa = hv.PortFor(a);
        pa.Touch(new Gfn(10), true, Text);
        pa.Touch(new Gfn(11), true, Noise);
        long tot = a.TotPages;
        Assert.True(hv.Paging.Evict(a, 10));
        Assert.True(hv.Paging.Evict(a, 11));
        Assert.Equal(P2mType.Compressed, a.P2m.Get(10).Type);
        Assert.Equal(P2mType.PagedOut, a.P2m.Get(11).Type);
        Assert.Equal(tot - 2, a.TotPages);
        Assert.Equal(1, hv.Paging.Compression.Incompressible);
        Assert.Equal(1, hv.Account().CompressionFrames);
        Assert.Empty(Auditor.Check(hv));

        var page = new byte[PageSize.Bytes];
        Assert.Equal(AccessOutcome.PagedIn, pa.Touch(new Gfn(11), false, ContentHandle.Zero));
        Assert.True(pa.ReadPage(new Gfn(10), page));
        Assert.Equal(Bytes(Text), page);
        Assert.True(pa.ReadPage(new Gfn(11), page));
        Assert.Equal(Bytes(Noise), page);
        Assert.Equal(2, hv.Paging.Stats.PagedIn);
        // The read from swap costs the guest a disk read; decompression costs far less.
        Assert.True(pa.TakeStallNs() >= new CostModel().HvSwapReadNs);
        Assert.Equal(0, hv.Account().CompressionFrames);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void A_full_compression_cache_moves_its_oldest_page_to_swap()
    {
        // 10% of 40 pages is 4 pages: two frames, four slots.
        using var hv = Host(new OvercommitOptions { Compression = new CompressionOptions { Enabled = true, Codec = CompressionCodec.Zstd } });
        var a = TestHost.Domain(hv, "a", 40, 40);
        var pa = hv.PortFor(a);
        for (ulong g = 1; g <= 6; g++) pa.Touch(new Gfn(g), true, ContentHandle.Synthetic(ContentClass.Compressible, g));
        for (ulong g = 1; g <= 6; g++) Assert.True(hv.Paging.Evict(a, g));
        Assert.Equal(P2mType.PagedOut, a.P2m.Get(1).Type);
        Assert.Equal(P2mType.PagedOut, a.P2m.Get(2).Type);
        for (ulong g = 3; g <= 6; g++) Assert.Equal(P2mType.Compressed, a.P2m.Get(g).Type);
        Assert.Equal(2, hv.Paging.Compression.EvictedToSwap);
        var page = new byte[PageSize.Bytes];
        for (ulong g = 1; g <= 6; g++)
        {
            Assert.True(pa.ReadPage(new Gfn(g), page));
            Assert.Equal(Bytes(ContentHandle.Synthetic(ContentClass.Compressible, g)), page);
        }
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void The_pager_evicts_to_its_target_but_never_gfn_0_nor_a_page_it_just_brought_back()
    {
        using var hv = Host(new OvercommitOptions { Paging = new PagingOptions { Policy = EvictionPolicy.Random, MruSize = 4 } });
        var a = TestHost.Domain(hv, "a", 64, 64);
        var pa = hv.PortFor(a);
        for (ulong g = 0; g < 64; g++) pa.Touch(new Gfn(g), true, ContentHandle.Synthetic(ContentClass.Incompressible, g));
        Assert.Equal(XenErrno.Ok, hv.DomCtl.SetPagingTarget(a.DomId, 40));
        hv.Step(1_000_000_000);
        Assert.Equal(40, a.TotPages);
        Assert.Equal(P2mType.Ram, a.P2m.Get(0).Type);
        ulong back = Enumerable.Range(1, 63).Select(g => (ulong)g).First(g => a.P2m.Get(g).Type == P2mType.PagedOut);
        pa.Touch(new Gfn(back), false, ContentHandle.Zero);
        Assert.Equal(XenErrno.Ok, hv.DomCtl.SetPagingTarget(a.DomId, 1));
        hv.Step(1_000_000_000);
        // Everything but gfn 0 and the recently paged-in gfn went out.
        Assert.Equal(2, a.TotPages);
        Assert.Equal(P2mType.Ram, a.P2m.Get(0).Type);
        Assert.Equal(P2mType.Ram, a.P2m.Get(back).Type);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void The_clock_gives_recently_accessed_pages_a_second_chance()
    {
        using var hv = Host(new OvercommitOptions { Paging = new PagingOptions { Policy = EvictionPolicy.Clock, MruSize = 1 } });
        var a = TestHost.Domain(hv, "a", 16, 16);
        var pa = hv.PortFor(a);
        for (ulong g = 0; g < 16; g++) pa.Touch(new Gfn(g), true, ContentHandle.Synthetic(ContentClass.Incompressible, g));
        // One turn of the hand clears every accessed flag; then only gfn 7 is used again.
        for (ulong g = 1; g < 16; g++) a.P2m.TestAndClearAccessed(g);
        pa.Touch(new Gfn(7), false, ContentHandle.Zero);
        for (int i = 0; i < 14; i++) Assert.True(hv.Paging.EvictOne(a));
        Assert.Equal(P2mType.Ram, a.P2m.Get(7).Type);
        Assert.Equal(2, a.TotPages);
    }

    [Fact]
    public void A_swap_file_that_cannot_be_written_stops_paging_with_an_event_and_loses_nothing()
    {
        // A device that fails every write with ENOSPC, as a full disk does.
        using var hv = Host(new OvercommitOptions { Paging = new PagingOptions { Device = new FaultySwapDevice(SwapFault.WritesFail) } });
        var a = TestHost.Domain(hv, "a", 16, 16);
        var pa = hv.PortFor(a);
        pa.Touch(new Gfn(3), true, Noise);
        Assert.False(hv.Paging.Evict(a, 3));
        Assert.Contains("ENOSPC", hv.Paging.StopReason);
        Assert.Single(hv.Events.Kept);
        Assert.Equal(P2mType.Ram, a.P2m.Get(3).Type);
        var page = new byte[PageSize.Bytes];
        Assert.True(pa.ReadPage(new Gfn(3), page));
        Assert.Equal(Bytes(Noise), page);
        Assert.False(hv.Paging.Evict(a, 4));
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void A_swap_file_in_a_missing_directory_is_reported_and_paging_stops()
    {
        using var hv = Host(new OvercommitOptions { Paging = new PagingOptions { SwapFile = "/nonexistent-memvisor-dir/swap" } });
        var a = TestHost.Domain(hv, "a", 16, 16);
        hv.PortFor(a).Touch(new Gfn(3), true, Noise);
        Assert.False(hv.Paging.Evict(a, 3));
        Assert.Contains("does not exist", hv.Paging.StopReason);
        Assert.Equal(P2mType.Ram, a.P2m.Get(3).Type);
    }

    [Fact]
    public void Ephemeral_tmem_pages_are_dropped_for_the_host_and_persistent_ones_always_come_back()
    {
        using var hv = Host(new OvercommitOptions { Tmem = new TmemOptions { Enabled = true, Dedup = true, ReservePages = 0 } });
        var a = TestHost.Domain(hv, "a", 64, 64);
        var pa = hv.PortFor(a);
        int eph = pa.TmemNewPool(persistent: false), per = pa.TmemNewPool(persistent: true);
        pa.Touch(new Gfn(1), true, Text);
        pa.Touch(new Gfn(2), true, Text);
        Assert.True(pa.TmemPut(eph, 1, 0, new Gfn(1)));
        Assert.True(pa.TmemPut(per, 1, 0, new Gfn(2)));
        // Deduplicated: two puts of the same bytes hold one frame.
        Assert.Equal(1, hv.Tmem.Stats.DedupHits);
        Assert.Equal(1, hv.Account().TmemFrames);
        Assert.Equal(1, hv.Tmem.EvictEphemeral(10));
        Assert.False(pa.TmemGet(eph, 1, 0, new Gfn(5)));
        Assert.True(pa.TmemGet(per, 1, 0, new Gfn(6)));
        var page = new byte[PageSize.Bytes];
        Assert.True(pa.ReadPage(new Gfn(6), page));
        Assert.Equal(Bytes(Text), page);
        Assert.Equal(0, hv.Account().TmemFrames);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void A_tmem_put_is_refused_when_it_would_go_into_the_host_reserve()
    {
        using var hv = Host(new OvercommitOptions { Tmem = new TmemOptions { Enabled = true, ReservePages = 1_000_000 } });
        var a = TestHost.Domain(hv, "a", 16, 16);
        var pa = hv.PortFor(a);
        int pool = pa.TmemNewPool(persistent: true);
        pa.Touch(new Gfn(1), true, Text);
        Assert.False(pa.TmemPut(pool, 1, 0, new Gfn(1)));
        Assert.Equal(1, hv.Tmem.Stats.PutsRefused);
    }

    [Fact]
    public void Reported_free_pages_lose_their_frames_and_read_as_zero_on_the_next_touch()
    {
        using var hv = Host(new OvercommitOptions());
        var a = TestHost.Domain(hv, "a", 1024, 1024);
        var pa = hv.PortFor(a);
        pa.Touch(new Gfn(512), true, Text);
        long free = hv.Machine.FreeFrames;
        Assert.Equal(XenErrno.Ok, pa.ReportFreePages([512], 9));
        Assert.Equal(free + 512, hv.Machine.FreeFrames);
        Assert.Equal(1024 - 512, a.TotPages);
        Assert.Equal(1024, a.P2m.PresentEntries);
        var page = new byte[PageSize.Bytes];
        Assert.True(pa.ReadPage(new Gfn(512), page));
        Assert.Equal(new byte[PageSize.Bytes], page);
        Assert.Equal(1024 - 511, a.TotPages);
        Assert.Empty(Auditor.Check(hv));
    }
}
