using Memvisor.Guest.Kernel;
using Memvisor.Guest.Memory;

namespace Memvisor.Guest.PageCache;

/// <summary>
/// Dirty page write-back, after Linux's flusher threads: a page dirtied longer than dirty_expire ago is written back,
/// and so are the oldest dirty pages while there are more than dirty_background_ratio percent of available memory.
/// </summary>
internal sealed class Writeback(GuestKernel k)
{
    private readonly Queue<(uint Gfn, int File, long Index, long DirtiedNs)> _queue = new();

    public long DirtyPages { get; private set; }

    public void MarkDirty(ulong gfn)
    {
        ref var d = ref k.Pages[gfn];
        if (d.Has(PageFlags.Dirty)) return;
        d.Flags |= PageFlags.Dirty;
        DirtyPages++;
        _queue.Enqueue(((uint)gfn, d.Owner, (long)d.Index, k.NowNs));
    }

    /// <summary>The page's data reached its file (written back by reclaim).</summary>
    public void Cleaned(ulong gfn)
    {
        ref var d = ref k.Pages[gfn];
        if (!d.Has(PageFlags.Dirty)) return;
        d.Flags &= ~PageFlags.Dirty;
        DirtyPages--;
    }

    public void Step(long nowNs)
    {
        long threshold = k.Allocator.ManagedPages * k.Options.DirtyBackgroundRatio / 100;
        while (_queue.Count > 0)
        {
            var (gfn, file, index, dirtied) = _queue.Peek();
            if (nowNs - dirtied < k.Options.DirtyExpireNs && DirtyPages <= threshold) break;
            _queue.Dequeue();
            // The entry is stale if the page was since reclaimed, reused or cleaned.
            var f = k.Files[file];
            if (!f.TryGetCached(index, out ulong cached) || cached != gfn || !k.Pages[gfn].Has(PageFlags.Dirty)) continue;
            k.DiskWrite(f, gfn, index);
            Cleaned(gfn);
            k.Counters.WritebackPages++;
        }
    }
}
