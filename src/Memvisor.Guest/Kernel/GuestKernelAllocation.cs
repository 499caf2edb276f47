using Memvisor.Seam;
using Memvisor.Guest.Memory;
using Memvisor.Guest.Mm;
using Memvisor.Guest.Reclaim;

namespace Memvisor.Guest.Kernel;

// Page allocation: watermarks, direct reclaim and the OOM killer, and zeroed pages for page tables.
public sealed partial class GuestKernel
{
    /// <summary>
    /// Allocates a page: user pages stop at the min watermark, kernel pages may go below it. When memory is short
    /// the caller reclaims directly (32 pages at a time); when reclaim finds nothing, the OOM killer ends the
    /// largest process. False (and counted) only when nothing more can be freed.
    /// </summary>
    internal bool TryAllocatePage(bool user, out ulong gfn)
    {
        for (int attempt = 0; attempt < 64; attempt++)
        {
            long floor = user ? Allocator.MinPages : 0;
            if (Allocator.FreePages > floor && (user ? Allocator.TryTake(out gfn) : Allocator.TryTakeLowest(out gfn)))
            {
                if (Allocator.FreePages < Allocator.LowPages) _kswapdWoken = true;
                return true;
            }
            Counters.DirectReclaims++;
            if (Reclaimer.Reclaim(32, direct: true) > 0) continue;
            if (!Oom.KillLargest()) break;
        }
        Counters.AllocationFailures++;
        gfn = 0;
        return false;
    }

    /// <summary>
    /// A page for a driver that must never wake the OOM killer (the balloon, hot-unplug's migration), as
    /// GFP_HIGHUSER | __GFP_NORETRY: one round of reclaim if memory is short, and never below the min watermark.
    /// </summary>
    internal bool TryAllocateNoRetry(out ulong gfn)
    {
        if (Allocator.FreePages <= Allocator.MinPages) Reclaimer.Reclaim(32, direct: false);
        if (Allocator.FreePages > Allocator.MinPages && Allocator.TryTake(out gfn)) return true;
        gfn = 0;
        return false;
    }

    /// <summary>A zeroed page for a page table, owned by <paramref name="p"/> (or the kernel).</summary>
    internal (bool Ok, ulong Gfn) NewTable(Process? p)
    {
        if (!TryAllocatePage(user: false, out ulong gfn)) return (false, 0);
        Pages.Assign(gfn, PageUse.PageTable, p?.Slot ?? KernelSlot, 0);
        Memory.WritePage(new Gfn(gfn), ZeroPage);
        if (p is not null) p.Counters.PageTablePages++;
        return (true, gfn);
    }

    internal void RecordOomKill(Process victim, long pages)
    {
        _oomKills.Add(new OomKill(NowNs, victim.Pid, victim.Name, pages));
        Counters.OomKills++;
    }
}
