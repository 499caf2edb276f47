namespace Memvisor.Guest.Memory;

/// <summary>
/// The guest's physical page allocator over the gfns it holds, with Linux's zone watermarks: min from
/// min_free_kbytes (sqrt(16 x memory in KiB), 128 KiB to 256 MiB), low and high above it by the larger of min/4
/// and watermark_scale_factor (0.1% of memory). User allocations stop at min; kswapd wakes below low and works up
/// to high (mm/page_alloc.c).
/// </summary>
public sealed class PageAllocator
{
    private readonly PageMap _map;
    private readonly GfnBitmap _free;
    private int _cursor;
    // A guest with virtual NUMA nodes (xl.cfg vnuma): the words of its first node, the one with its CPUs; 0 for one node.
    private int _localWords;
    private int _remoteCursor;

    public PageAllocator(PageMap map)
    {
        _map = map;
        _free = new GfnBitmap(map.Length);
    }

    public long FreePages => _free.Count;
    /// <summary>Pages in the guest's memory map (MemTotal).</summary>
    public long ManagedPages => _map.Length - _map.CountOf(PageUse.Unheld) - _map.CountOf(PageUse.Foreign);
    public long MinPages { get; private set; }
    public long LowPages { get; private set; }
    public long HighPages { get; private set; }

    /// <summary>Sets the watermarks from the memory the guest manages now (at boot and after hot-add, as Linux does).</summary>
    public void SetWatermarks()
    {
        long kib = ManagedPages * 4;
        long minKib = Math.Clamp((long)Math.Sqrt(kib * 16.0), 128, 262_144);
        MinPages = minKib / 4;
        long step = Math.Max(MinPages / 4, ManagedPages * 10 / 10_000);
        LowPages = MinPages + step;
        HighPages = LowPages + step;
    }

    public void Grow(long pages) => _free.Grow(pages);

    /// <summary>A gfn enters the memory map as a free page (boot, or populated again after the balloon).</summary>
    public void AddHeld(ulong gfn) => Give(gfn);

    /// <summary>
    /// The guest's memory is virtual NUMA nodes and its CPUs are on the first, <paramref name="pages"/> long (a whole
    /// number of 64-page words): allocations take its pages first and fall back to the CPU-less rest, as Linux's
    /// zonelist falls back from the local node (a memory-only node is never local; Pond's zNUMA relies on it).
    /// </summary>
    public void SetLocalNode(long pages)
    {
        _localWords = (int)(pages >> 6);
        _localFree = _free.CountIn(0, _localWords);
    }

    // The free pages of the CPUs' node, kept as bits are set and cleared (the tiering reads it at every promotion and step).
    private long _localFree;

    private void TakeBit(long bit)
    {
        if (_free[bit] && bit < (long)_localWords << 6) _localFree--;
        _free.Clear(bit);
    }

    private void FreeBit(long bit)
    {
        if (!_free[bit] && bit < (long)_localWords << 6) _localFree++;
        _free.Set(bit);
    }

    /// <summary>Takes any free page, ignoring watermarks (callers check them): on the CPUs' node first when there are several; false if there is none.</summary>
    public bool TryTake(out ulong gfn)
    {
        long bit;
        if (_localWords == 0) bit = _free.FindSet(_cursor);
        else if ((bit = _free.FindSetIn(_cursor, 0, _localWords)) < 0 && (bit = _free.FindSetIn(_remoteCursor, _localWords, _free.WordCount)) >= 0)
        {
            TakeBit(bit);
            _remoteCursor = (int)(bit >> 6);
            gfn = (ulong)bit;
            return true;
        }
        if (bit < 0)
        {
            gfn = 0;
            return false;
        }
        TakeBit(bit);
        _cursor = (int)(bit >> 6);
        gfn = (ulong)bit;
        return true;
    }

    /// <summary>The pages of the CPUs' node (the first virtual NUMA node); 0 for a guest of one node.</summary>
    public long LocalPages => (long)_localWords << 6;

    /// <summary>Free pages on the CPUs' node (0 for a guest of one node).</summary>
    public long LocalFreePages() => _localFree;

    /// <summary>Free pages on the nodes without CPUs.</summary>
    public long RemoteFreePages() => _localWords == 0 ? 0 : FreePages - LocalFreePages();

    /// <summary>Takes a free page of the CPUs' node only (a promotion's target); false if it has none.</summary>
    public bool TryTakeLocal(out ulong gfn) => TakeIn(ref _cursor, 0, _localWords, out gfn);

    /// <summary>Takes a free page of a node without CPUs only (a demotion's target); false if they have none.</summary>
    public bool TryTakeRemote(out ulong gfn) => TakeIn(ref _remoteCursor, _localWords, _free.WordCount, out gfn);

    private bool TakeIn(ref int cursor, int fromWord, int toWord, out ulong gfn)
    {
        long bit = _localWords == 0 ? -1 : _free.FindSetIn(cursor, fromWord, toWord);
        gfn = bit < 0 ? 0 : (ulong)bit;
        if (bit < 0) return false;
        TakeBit(bit);
        cursor = (int)(bit >> 6);
        return true;
    }

    /// <summary>Whether a gfn lies on a node without CPUs (after the first virtual NUMA node).</summary>
    public bool IsRemote(ulong gfn) => _localWords > 0 && (long)gfn >= (long)_localWords << 6;

    /// <summary>
    /// Takes the lowest free page, for the kernel's own unmovable allocations (page tables): memory is filled from
    /// the bottom as Linux fills ZONE_NORMAL before ZONE_MOVABLE, so hot-plugged blocks at the top stay movable.
    /// </summary>
    public bool TryTakeLowest(out ulong gfn)
    {
        long bit = _free.FindSet(0);
        if (bit < 0)
        {
            gfn = 0;
            return false;
        }
        TakeBit(bit);
        gfn = (ulong)bit;
        return true;
    }

    /// <summary>Takes this very page if it is free (to isolate a memory block before offlining it).</summary>
    public bool TryTakeSpecific(ulong gfn)
    {
        if ((long)gfn >= _free.Length || !_free[(long)gfn]) return false;
        TakeBit((long)gfn);
        return true;
    }

    /// <summary>Takes 2^<paramref name="order"/> free pages, naturally aligned (order 6 or more); false if no such block is free.</summary>
    public bool TryTakeBlock(int order, out ulong first)
    {
        int words = 1 << (order - 6);
        for (int w = 0; w + words <= _free.WordCount; w += words)
        {
            bool full = true;
            for (int k = 0; k < words && full; k++) full = _free.WordFull(w + k);
            if (!full) continue;
            first = (ulong)w << 6;
            for (long i = 0; i < words * 64L; i++) TakeBit((long)first + i);
            return true;
        }
        first = 0;
        return false;
    }

    /// <summary>Returns a page to the free pool; its descriptor must already be off the LRU lists.</summary>
    public void Give(ulong gfn)
    {
        _map.Assign(gfn, PageUse.Free, 0, 0);
        FreeBit((long)gfn);
    }

    /// <summary>A page taken from the pool leaves the memory map (given to the hypervisor by the balloon).</summary>
    public void RemoveHeld(ulong gfn) => _map.Assign(gfn, PageUse.Unheld, 0, 0);

    /// <summary>A page taken from the pool leaves the memory map for a backend's foreign mappings (alloc_xenballooned_pages).</summary>
    public void RemoveForForeign(ulong gfn) => _map.Assign(gfn, PageUse.Foreign, 0, 0);
}
