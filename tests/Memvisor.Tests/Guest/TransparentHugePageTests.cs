using Memvisor.Guest.Kernel;
using Memvisor.Guest.Memory;
using Memvisor.Guest.Mm;
using Memvisor.Guest.Workloads;
using Memvisor.Machine.Frames;

namespace Memvisor.Tests.Guest;

/// <summary>Transparent huge pages in the guest kernel (guest.thp): faults that map 2 MiB, splits before 4 KiB work, and huge pages freed whole.</summary>
public class TransparentHugePageTests
{
    private static GuestKernel Boot(long pages, long swap, IWorkload? workload = null) =>
        GuestHost.Boot(pages, swap, workload, configure: o => o with { TransparentHugePages = true }).Kernel;

    private static ulong Address(ulong start, ulong page) => start + (page << PageSize.Shift);

    [Fact]
    public void A_fault_in_a_whole_untouched_2MiB_region_maps_a_huge_page_and_a_partial_region_gets_4KiB_pages()
    {
        var k = Boot(8192, 0);
        var p = k.Spawn("t")!;
        ulong a = k.MapAnonymous(p, 1024 + 300);
        long free = k.Allocator.FreePages, tables = p.Stats.PageTablePages;
        Assert.True(k.Access(p, Address(a, 5), write: true));
        ulong e = k.Tables.Walk(p.Root, (a >> PageSize.Shift) + 5, out _, out _, out int level);
        Assert.Equal(2, level);
        Assert.NotEqual(0UL, e & Pte.Huge);
        Assert.Equal(1, k.Thp!.Stats.FaultAlloc);
        Assert.Equal(512, p.Stats.RssAnon);
        // 512 pages, the tables above the region (a PDPT and a page directory here) and the page table kept aside for a split.
        Assert.Equal(3, p.Stats.PageTablePages - tables);
        Assert.Equal(free - 512 - 3, k.Allocator.FreePages);
        for (ulong i = 0; i < 512; i++) Assert.True(k.Pages[Pte.Frame(e) + i].Has(PageFlags.Compound));
        long faults = k.Stats.MinorFaults;
        Assert.True(k.Access(p, Address(a, 400), write: false));
        Assert.Equal(faults, k.Stats.MinorFaults);
        // The third region is cut short by the mapping's end: 4 KiB pages there.
        Assert.True(k.Access(p, Address(a, 1024 + 3), write: true));
        k.Tables.Walk(p.Root, (a >> PageSize.Shift) + 1024 + 3, out _, out _, out level);
        Assert.Equal(1, level);
        Assert.Equal(1, k.Thp.Stats.FaultAlloc);
        Assert.Equal(0, k.Integrity!.VerifyAll());
        Assert.True(k.MemInfo().AddsUp);
    }

    [Fact]
    public void Swapping_out_a_page_of_a_huge_page_splits_it_first_and_every_page_reads_back_what_was_written()
    {
        // 32 MiB guest, a 40 MiB working set touched uniformly, 32 MiB of swap.
        var w = new SteadyWorkload(10_240, 20_000, 0.5);
        var k = Boot(8192, 8192, w);
        GuestHost.Run(k, 100);
        var thp = k.Thp!.Stats;
        Assert.True(thp.FaultAlloc > 0, $"{thp}");
        Assert.True(thp.SplitReclaim > 0, $"{thp}");
        Assert.Equal(0, thp.SplitMigration);
        Assert.True(k.Stats.SwapOuts > 1000, $"swap-outs {k.Stats.SwapOuts}");
        Assert.Equal(thp.FaultAlloc - thp.Splits - thp.Zapped, k.Thp.HugePages);
        Assert.Equal(0, k.Integrity!.VerifyAll());
        Assert.True(k.Integrity.Checks > 10_000);
        Assert.True(k.MemInfo().AddsUp);
    }

    [Fact]
    public void Munmap_and_exit_free_huge_pages_whole_with_the_tables_kept_for_them()
    {
        var k = Boot(8192, 0);
        long free = k.Allocator.FreePages;
        var p = k.Spawn("t")!;
        long spawned = k.Allocator.FreePages;
        ulong a = k.MapAnonymous(p, 1024), b = k.MapAnonymous(p, 512);
        k.Access(p, Address(a, 1), write: true);
        k.Access(p, Address(a, 700), write: true);
        k.Access(p, Address(b, 0), write: true);
        Assert.Equal(3, k.Thp!.HugePages);
        long tables = p.Stats.PageTablePages;
        k.Unmap(p, a);
        Assert.Equal(1, k.Thp.HugePages);
        Assert.Equal(2, k.Thp.Stats.Zapped);
        Assert.Equal(tables - 2, p.Stats.PageTablePages);
        Assert.Equal(512, p.Stats.RssAnon);
        k.Exit(p);
        Assert.Equal(0, k.Thp.HugePages);
        Assert.Equal(3, k.Thp.Stats.Zapped);
        Assert.Equal(free, k.Allocator.FreePages);
        Assert.True(spawned < free);
        Assert.Equal(0, k.Pages.CountOf(PageUse.Anon));
    }

    [Fact]
    public void Without_a_free_2MiB_block_above_the_low_watermark_a_fault_falls_back_to_4KiB_pages()
    {
        var k = Boot(2048, 0);
        var p = k.Spawn("t")!;
        ulong a = k.MapAnonymous(p, 2048);
        for (ulong i = 0; i < 2048 && k.Thp!.Stats.FaultFallback == 0; i += 512) k.Access(p, Address(a, i), write: true);
        Assert.True(k.Thp!.Stats.FaultFallback > 0, $"{k.Thp.Stats}");
        Assert.True(k.Allocator.FreePages >= k.Allocator.MinPages);
        Assert.Equal(0, k.Integrity!.VerifyAll());
    }
}
