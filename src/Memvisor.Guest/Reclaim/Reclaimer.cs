using Memvisor.Guest.Kernel;
using Memvisor.Guest.Memory;

namespace Memvisor.Guest.Reclaim;

/// <summary>
/// Page reclaim after Linux's mm/vmscan.c: scans the LRU lists from their old ends at falling priority (1/4096 of
/// each list, then twice that, down to all of it), weighing anonymous against file pages by swappiness. The
/// inactive list gives a second chance: a page whose accessed bit is set is moved to the active list; one that is
/// not is reclaimed (a clean file page dropped, a dirty one written back first, an anonymous page swapped out).
/// The active list is aged into the inactive one whenever it grows larger.
/// </summary>
internal sealed class Reclaimer(GuestKernel k)
{
    private const int ClusterPages = 32;

    /// <summary>Tries to free <paramref name="want"/> pages; returns how many it freed. Direct reclaim stalls the workload for its I/O.</summary>
    public long Reclaim(long want, bool direct)
    {
        long freed = 0;
        int swappiness = Math.Clamp(k.Options.Swappiness, 0, 200);
        for (int priority = 12; priority >= 0 && freed < want; priority--)
        {
            bool canSwap = k.Swap.FreeSlots > 0;
            long anon = k.Pages.CountOf(LruList.InactiveAnon) + k.Pages.CountOf(LruList.ActiveAnon);
            long file = k.Pages.CountOf(LruList.InactiveFile) + k.Pages.CountOf(LruList.ActiveFile);
            long fileScan = ScanCount(file, priority, 200 - swappiness);
            long anonScan = canSwap ? ScanCount(anon, priority, swappiness) : 0;
            freed += Shrink(LruList.InactiveFile, LruList.ActiveFile, fileScan, want - freed, direct);
            if (freed < want && anonScan > 0)
                freed += Shrink(LruList.InactiveAnon, LruList.ActiveAnon, anonScan, want - freed, direct);
        }
        k.Counters.PagesStolen += freed;
        return freed;
    }

    private static long ScanCount(long size, int priority, int weight)
    {
        if (size == 0 || weight == 0) return 0;
        long scan = (size >> priority) * weight / 100;
        return Math.Max(scan, Math.Min(size, ClusterPages));
    }

    private long Shrink(LruList inactive, LruList active, long scan, long want, bool direct)
    {
        if (k.Pages.CountOf(inactive) < k.Pages.CountOf(active)) Age(active, inactive, scan);
        return ShrinkInactive(inactive, active, scan, want, direct);
    }

    // Moves pages from the old end of the active list to the inactive list, clearing their accessed bits; mapped
    // file pages that were referenced stay active (Linux keeps referenced executable pages active).
    private void Age(LruList active, LruList inactive, long scan)
    {
        for (long i = 0; i < scan; i++)
        {
            uint gfn = k.Pages.TailOf(active);
            if (gfn == PageDescriptor.NoLink) return;
            k.Pages.Remove(gfn);
            bool referenced = k.Rmap.TestAndClearReferenced(gfn);
            bool keep = referenced && active == LruList.ActiveFile && k.Rmap.IsMapped(gfn);
            k.Pages.AddHead(gfn, keep ? active : inactive);
            k.Counters.PagesScanned++;
        }
    }

    private long ShrinkInactive(LruList inactive, LruList active, long scan, long want, bool direct)
    {
        long freed = 0;
        double costNs = 0;
        for (long i = 0; i < scan && freed < want; i++)
        {
            uint gfn = k.Pages.TailOf(inactive);
            if (gfn == PageDescriptor.NoLink) break;
            k.Pages.Remove(gfn);
            k.Counters.PagesScanned++;
            costNs += k.Costs.GuestReclaimScanNs;
            if (k.Rmap.TestAndClearReferenced(gfn))
            {
                k.Pages.AddHead(gfn, active);
                continue;
            }
            if (inactive == LruList.InactiveAnon)
            {
                if (!k.Swap.TrySwapOut(k.Memory, gfn, out uint slot, out bool inTmem))
                {
                    k.Pages.AddHead(gfn, active);
                    continue;
                }
                k.Rmap.ReplaceWithSwap(gfn, slot);
                k.Counters.SwapOuts++;
                // A page frontswap took costs a tmem copy (charged by the hypervisor), not a device write.
                if (!inTmem) costNs += k.Costs.GuestSwapWriteNs;
            }
            else costNs += EvictFilePage(gfn);
            k.Allocator.Give(gfn);
            freed++;
        }
        if (direct) k.Stall(costNs);
        return freed;
    }

    /// <summary>
    /// Demotion (mm/vmscan.c, demote_folio_list): cold anonymous pages of the CPUs' node move to free pages of a node
    /// without CPUs instead of going to swap, from the old end of the inactive list with the same second chance.
    /// Returns how many moved; stops when the slower node has no free page.
    /// </summary>
    public long Demote(long want)
    {
        long moved = 0, scanned = 0;
        long scan = 4 * want + ClusterPages;
        if (k.Pages.CountOf(LruList.InactiveAnon) < k.Pages.CountOf(LruList.ActiveAnon)) Age(LruList.ActiveAnon, LruList.InactiveAnon, scan);
        // Linux keeps an LRU per node and kswapd scans the short node's; here one list holds both nodes' pages, so the walk
        // from the old end steps over the slower node's where they lie, without counting them against the scan.
        uint next = k.Pages.TailOf(LruList.InactiveAnon);
        while (next != PageDescriptor.NoLink && scanned < scan && moved < want)
        {
            uint gfn = next;
            next = k.Pages[gfn].Prev;
            if (k.Allocator.IsRemote(gfn)) continue;
            scanned++;
            k.Counters.PagesScanned++;
            if (k.Rmap.TestAndClearReferenced(gfn))
            {
                k.Pages.Remove(gfn);
                k.Pages.AddHead(gfn, LruList.ActiveAnon);
                continue;
            }
            // The page keeps its place until a page of the slower node is had; MoveAnonPage carries its LRU place over.
            if (!k.Allocator.TryTakeRemote(out ulong to)) break;
            if (!k.MoveAnonPage(gfn, to))
            {
                k.Allocator.Give(to);
                k.Pages.Remove(gfn);
                k.Pages.AddHead(gfn, LruList.ActiveAnon);
                continue;
            }
            k.Allocator.Give(gfn);
            moved++;
        }
        return moved;
    }

    /// <summary>
    /// Drops a page-cache page that is off the LRU lists: unmaps it, writes it back first if it is dirty, and offers
    /// it to cleancache. The page is left for the caller to free. Returns the I/O time it took.
    /// </summary>
    public double EvictFilePage(ulong gfn)
    {
        ref var d = ref k.Pages[gfn];
        var file = k.Files[d.Owner];
        long index = (long)d.Index;
        double costNs = 0;
        bool dirty = k.Rmap.UnmapFilePage(gfn) | d.Has(PageFlags.Dirty);
        if (dirty)
        {
            k.DiskWrite(file, gfn, index);
            k.Writeback.Cleaned(gfn);
            k.Counters.WritebackPages++;
            costNs += k.Costs.GuestFileWriteNs;
        }
        file.ClearCached(index);
        k.Cleancache?.Put(file, index, gfn);
        return costNs;
    }
}
