using Memvisor.Guest.Kernel;
using Memvisor.Guest.Memory;

namespace Memvisor.Guest.PageCache;

/// <summary>The page cache: finds a file page in memory or reads it from disk into a new page (Linux's filemap_fault and generic_file_read paths).</summary>
internal sealed class PageCacheOps(GuestKernel k)
{
    /// <summary>
    /// The gfn caching page <paramref name="index"/> of <paramref name="file"/>, reading it from disk on a miss
    /// (or, for a whole-page write, only allocating it). False if no page could be had.
    /// </summary>
    public bool TryGetPage(GuestFile file, long index, bool readFromDisk, out ulong gfn)
    {
        if (file.TryGetCached(index, out gfn)) return true;
        if (!k.TryAllocatePage(user: true, out gfn)) return false;
        // Direct reclaim during the allocation may not drop this page (it was not cached), so the lookup stays valid.
        if (readFromDisk)
        {
            if (k.Cleancache?.TryGet(file, index, gfn) != true)
            {
                k.DiskRead(file, gfn, index);
                k.Counters.FileReads++;
                k.Stall(k.Costs.GuestFileReadNs);
            }
        }
        else k.Cleancache?.Invalidate(file, index);
        k.Pages.Assign(gfn, PageUse.File, file.Id, (ulong)index);
        k.Pages.AddHead(gfn, LruList.InactiveFile);
        file.SetCached(index, gfn);
        return true;
    }

    /// <summary>mark_page_accessed: a first reference sets PG_referenced; a second one on the inactive list activates the page.</summary>
    public void MarkAccessed(ulong gfn)
    {
        ref var d = ref k.Pages[gfn];
        if (!d.Has(PageFlags.Referenced))
        {
            d.Flags |= PageFlags.Referenced;
            return;
        }
        if (d.Has(PageFlags.Active) || !d.Has(PageFlags.OnLru)) return;
        k.Pages.Remove(gfn);
        k.Pages.AddHead(gfn, LruList.ActiveFile);
        k.Pages[gfn].Flags &= ~PageFlags.Referenced;
    }
}
