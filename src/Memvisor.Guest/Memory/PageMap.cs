namespace Memvisor.Guest.Memory;

/// <summary>
/// The guest's struct page array, one <see cref="PageDescriptor"/> per gfn, and the four LRU lists threaded
/// through it (doubly linked by gfn, newest at the head), as in Linux's mm/swap.c and mm/vmscan.c.
/// The simulator keeps the descriptors in chunks of 512 pages and only for chunks with a page in use: a chunk whose
/// pages are all free or unheld holds nothing but a bit per page (unheld or free), so the idle part of a guest's
/// memory costs the simulator almost nothing. Readers that only need a page's use go through <see cref="UseOf"/>;
/// the indexer hands out a descriptor to change and brings its chunk back first.
/// </summary>
public sealed class PageMap
{
    private const int ChunkShift = 9;
    private const int ChunkPages = 1 << ChunkShift;
    private const ulong ChunkMask = ChunkPages - 1;
    /// <summary>Emptied chunks kept for reuse, so a chunk that fills and empties again allocates nothing.</summary>
    private const int SpareChunks = 64;

    private PageDescriptor[]?[] _chunks;
    // Per chunk: its pages whose use is Free or Unheld (pages past the end count as unheld). At ChunkPages the
    // chunk's descriptors go: a free or unheld page has no owner, index, flags or links (Assign clears them).
    private ushort[] _plain;
    // A bit per page, set while the page is unheld: the use of a page in a chunk without descriptors.
    private ulong[] _unheld;
    private readonly Stack<PageDescriptor[]> _spare = new(SpareChunks);
    private readonly uint[] _head = [PageDescriptor.NoLink, PageDescriptor.NoLink, PageDescriptor.NoLink, PageDescriptor.NoLink];
    private readonly uint[] _tail = [PageDescriptor.NoLink, PageDescriptor.NoLink, PageDescriptor.NoLink, PageDescriptor.NoLink];
    private readonly long[] _count = new long[4];
    private readonly long[] _byUse = new long[7];

    public PageMap(long pages)
    {
        _chunks = [];
        _plain = [];
        _unheld = [];
        Resize(pages);
        Length = pages;
        _byUse[(int)PageUse.Unheld] = pages;
    }

    public long Length { get; private set; }

    /// <summary>Chunks of 512 pages whose descriptors exist now (those with a page in use).</summary>
    public long LiveChunks { get; private set; }

    /// <summary>Bytes the simulator keeps for this map now: live and spare chunks, the chunk index and the bits.</summary>
    public long SizeInBytes =>
        (LiveChunks + _spare.Count) * ChunkPages * 16L + _chunks.LongLength * (IntPtr.Size + sizeof(ushort)) + _unheld.LongLength * sizeof(ulong);

    /// <summary>The descriptor of <paramref name="gfn"/>, to read or change: its chunk's descriptors are made if they were not kept.</summary>
    public ref PageDescriptor this[ulong gfn] => ref (_chunks[gfn >> ChunkShift] ?? Materialise(gfn >> ChunkShift))[gfn & ChunkMask];

    /// <summary>What <paramref name="gfn"/> is used for, without making its chunk's descriptors.</summary>
    public PageUse UseOf(ulong gfn)
    {
        var chunk = _chunks[gfn >> ChunkShift];
        return chunk is not null ? chunk[gfn & ChunkMask].Use : IsUnheld(gfn) ? PageUse.Unheld : PageUse.Free;
    }

    /// <summary>Pages currently put to <paramref name="use"/>.</summary>
    public long CountOf(PageUse use) => _byUse[(int)use];
    public long CountOf(LruList list) => _count[(int)list];
    public uint TailOf(LruList list) => _tail[(int)list];

    public void Grow(long pages)
    {
        if (pages <= Length) return;
        _byUse[(int)PageUse.Unheld] += pages - Length;
        Resize(pages);
        Length = pages;
    }

    /// <summary>Gives a page a new use (it must be off every list), keeping the per-use counts.</summary>
    public void Assign(ulong gfn, PageUse use, int owner, ulong index)
    {
        ulong c = gfn >> ChunkShift;
        var chunk = _chunks[c];
        var old = chunk is not null ? chunk[gfn & ChunkMask].Use : IsUnheld(gfn) ? PageUse.Unheld : PageUse.Free;
        _byUse[(int)old]--;
        _byUse[(int)use]++;
        ref ulong word = ref _unheld[gfn >> 6];
        ulong bit = 1UL << (int)(gfn & 63);
        word = use == PageUse.Unheld ? word | bit : word & ~bit;
        bool isPlain = use is PageUse.Free or PageUse.Unheld;
        if (chunk is null && isPlain) return;
        chunk ??= Materialise(c);
        chunk[gfn & ChunkMask].Assign(use, owner, index);
        _plain[c] = (ushort)(_plain[c] + (isPlain ? 1 : 0) - (old is PageUse.Free or PageUse.Unheld ? 1 : 0));
        if (_plain[c] == ChunkPages) Release(c);
    }

    public static LruList ListFor(PageUse use, bool active) =>
        (use == PageUse.Anon ? LruList.InactiveAnon : LruList.InactiveFile) + (active ? 1 : 0);

    /// <summary>Puts a page at the head (newest end) of an LRU list.</summary>
    public void AddHead(ulong gfn, LruList list)
    {
        ref var p = ref this[gfn];
        int l = (int)list;
        p.Prev = PageDescriptor.NoLink;
        p.Next = _head[l];
        if (_head[l] != PageDescriptor.NoLink) this[_head[l]].Prev = (uint)gfn;
        else _tail[l] = (uint)gfn;
        _head[l] = (uint)gfn;
        _count[l]++;
        var flags = p.Flags | PageFlags.OnLru;
        p.Flags = list is LruList.ActiveAnon or LruList.ActiveFile ? flags | PageFlags.Active : flags & ~PageFlags.Active;
    }

    /// <summary>Takes a page off whichever LRU list it is on; nothing if it is on none.</summary>
    public void Remove(ulong gfn)
    {
        if (_chunks[gfn >> ChunkShift] is null) return;
        ref var p = ref this[gfn];
        if (!p.Has(PageFlags.OnLru)) return;
        int l = (int)ListFor(p.Use, p.Has(PageFlags.Active));
        if (p.Prev != PageDescriptor.NoLink) this[p.Prev].Next = p.Next; else _head[l] = p.Next;
        if (p.Next != PageDescriptor.NoLink) this[p.Next].Prev = p.Prev; else _tail[l] = p.Prev;
        p.Prev = p.Next = PageDescriptor.NoLink;
        p.Flags &= ~(PageFlags.OnLru | PageFlags.Active);
        _count[l]--;
    }

    private bool IsUnheld(ulong gfn) => (_unheld[gfn >> 6] & (1UL << (int)(gfn & 63))) != 0;

    private PageDescriptor[] Materialise(ulong c)
    {
        var chunk = _spare.Count > 0 ? _spare.Pop() : new PageDescriptor[ChunkPages];
        ulong first = c << ChunkShift;
        for (int i = 0; i < ChunkPages; i++)
            chunk[i].Assign(IsUnheld(first + (ulong)i) ? PageUse.Unheld : PageUse.Free, 0, 0);
        _chunks[c] = chunk;
        LiveChunks++;
        return chunk;
    }

    private void Release(ulong c)
    {
        if (_spare.Count < SpareChunks) _spare.Push(_chunks[c]!);
        _chunks[c] = null;
        LiveChunks--;
    }

    // Room for pages 0..pages-1; new pages are unheld and, like pages past the end, plain.
    private void Resize(long pages)
    {
        long oldChunks = _chunks.LongLength, chunks = (pages + ChunkPages - 1) >> ChunkShift;
        if (chunks > oldChunks)
        {
            Array.Resize(ref _chunks, (int)chunks);
            Array.Resize(ref _plain, (int)chunks);
            Array.Fill(_plain, (ushort)ChunkPages, (int)oldChunks, (int)(chunks - oldChunks));
            int oldWords = _unheld.Length;
            Array.Resize(ref _unheld, (int)(chunks << (ChunkShift - 6)));
            Array.Fill(_unheld, ulong.MaxValue, oldWords, _unheld.Length - oldWords);
        }
    }
}
