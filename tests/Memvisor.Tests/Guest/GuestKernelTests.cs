using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;
using Memvisor.Guest.Workloads;
using Memvisor.Seam;

namespace Memvisor.Tests.Guest;

public class GuestKernelTests
{
    [Fact]
    public void Page_tables_are_x86_64_entries_in_guest_frames_with_accessed_and_dirty_bits()
    {
        var (_, k) = GuestHost.Boot(4096, 0);
        var p = k.Spawn("t")!;
        ulong va = k.MapAnonymous(p, 4);
        Assert.True(k.Access(p, va, write: false));
        Assert.True(k.Access(p, va + 4096, write: true));

        // Walk by hand from the PML4 gfn, reading raw 64-bit words out of the guest's frames.
        ulong vpn = va >> 12;
        ulong table = p.Root;
        for (int level = 4; level > 1; level--)
        {
            Assert.True(k.Memory.TryReadWord(new Gfn(table), (int)((vpn >> (9 * (level - 1))) & 511), out ulong upper));
            Assert.Equal(0x7UL, upper & 0x7);                                  // present, writable, user
            table = (upper & 0x000F_FFFF_FFFF_F000UL) >> 12;
        }
        Assert.True(k.Memory.TryReadWord(new Gfn(table), (int)(vpn & 511), out ulong read));
        Assert.True(k.Memory.TryReadWord(new Gfn(table), (int)((vpn + 1) & 511), out ulong written));
        Assert.Equal(Pte.Present | Pte.Writable | Pte.User | Pte.Accessed, read & 0x7F);     // read: accessed, not dirty
        Assert.Equal(Pte.Present | Pte.Writable | Pte.User | Pte.Accessed | Pte.Dirty, written & 0x7F);
        Assert.NotEqual(0UL, read & Pte.NoExecute);
        Assert.Equal(Memvisor.Guest.Memory.PageUse.Anon, PageUseOf(k, read));
    }

    [Fact]
    public void Kernel_text_is_mapped_with_2MiB_pages_shared_by_every_process()
    {
        var (_, k) = GuestHost.Boot(4096, 0);
        var p = k.Spawn("t")!;
        ulong e = k.Tables.Walk(p.Root, GuestKernel.KernelTextVpn + 5, out _, out _, out int level);
        Assert.Equal(2, level);
        Assert.NotEqual(0UL, e & Pte.Huge);
        Assert.Equal(Memvisor.Guest.Memory.PageUse.Kernel, k.Pages[Pte.Frame(e) + 5].Use);
    }

    [Fact]
    public void A_guest_below_its_working_set_swaps_and_meminfo_adds_up()
    {
        // 16 MiB guest, 2 MiB of kernel text, a 20 MiB working set touched uniformly, 16 MiB of swap.
        var w = new SteadyWorkload(5120, 20_000, 0.5);
        var (memory, k) = GuestHost.Boot(4096, 4096, w);
        GuestHost.Run(k, 100);
        var m = k.MemInfo();
        Assert.True(m.AddsUp, $"{m}");
        Assert.True(k.Stats.SwapOuts > 1000, $"swap-outs {k.Stats.SwapOuts}");
        Assert.True(k.Stats.SwapIns > 1000, $"swap-ins {k.Stats.SwapIns}");
        Assert.Equal(k.Stats.SwapIns, k.Stats.MajorFaults - k.Stats.FileReads);
        Assert.Equal(0, k.Stats.OomKills);
        Assert.Equal(m.SwapTotal - m.SwapFree, w.Processes[0].Stats.SwapEntries);
        Assert.True(m.MemFree >= k.Allocator.MinPages, "user allocations never take the min reserve");
        Assert.Equal(0, k.Integrity!.VerifyAll());
        Assert.True(k.Integrity.Checks > 10_000);
        Assert.Equal(0, memory.Refusals);
        Assert.Equal(k.HeldPages, memory.CurrentReservation);
    }

    [Fact]
    public void Without_swap_the_OOM_killer_ends_the_largest_process()
    {
        var small = new SteadyWorkload(256, 1000, 0.3);
        var big = new SteadyWorkload(6000, 1000, 0.3);
        var (_, k) = GuestHost.Boot(4096, 0, new MixWorkload([small, big]));
        GuestHost.Run(k, 20);
        var kill = Assert.Single(k.OomKills);
        Assert.Equal(big.Processes[0].Pid, kill.Pid);
        Assert.True(big.Processes[0].Exited);
        Assert.False(small.Processes[0].Exited);
        Assert.True(k.MemInfo().AddsUp);
        Assert.Equal(0, k.Integrity!.VerifyAll());
    }

    [Fact]
    public void File_streaming_fills_the_page_cache_and_reclaim_keeps_it_within_memory()
    {
        var w = new FileStreamingWorkload(8192, 20_000, 0.25);
        var (_, k) = GuestHost.Boot(4096, 0, w);
        GuestHost.Run(k, 30);
        var m = k.MemInfo();
        Assert.True(m.AddsUp);
        Assert.True(m.Cached > 2000, $"cached {m.Cached}");
        Assert.True(k.Stats.PagesStolen > 1000, "reclaim dropped cache pages");
        Assert.True(k.Stats.WritebackPages > 0, "dirty pages were written back");
        Assert.Equal(0, k.Stats.OomKills);
        Assert.Equal(0, k.Integrity!.VerifyAll());
    }

    [Fact]
    public void The_balloon_takes_pages_from_the_guest_and_memtotal_follows()
    {
        var (memory, k) = GuestHost.Boot(8192, 2048, new SteadyWorkload(3000, 5000, 0.5));
        GuestHost.Run(k, 5);
        memory.SetTarget(4096);
        GuestHost.Run(k, 20, 5 * GuestHost.Tick);
        Assert.Equal(4096, k.HeldPages);
        Assert.Equal(4096, k.MemInfo().MemTotal);
        Assert.Equal(4096, memory.CurrentReservation);
        Assert.Equal(0, k.Integrity!.VerifyAll());
    }

    private static Memvisor.Guest.Memory.PageUse PageUseOf(GuestKernel k, ulong pte) => k.Pages[Pte.Frame(pte)].Use;
}
