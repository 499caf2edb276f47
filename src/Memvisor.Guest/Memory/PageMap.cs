namespace Memvisor.Guest.Memory;

/// <summary>
/// The guest's struct page array, one <see cref="PageDescriptor"/> per gfn, and the four LRU lists threaded
/// through it (doubly linked by gfn, newest at the head), as in Linux's mm/swap.c and mm/vmscan.c.
/// </summary>
public sealed class PageMap
{
    private PageDescriptor[] _pages;
    private readonly uint[] _head = [PageDescriptor.NoLink, PageDescriptor.NoLink, PageDescriptor.NoLink, PageDescriptor.NoLink];
    private readonly uint[] _tail = [PageDescriptor.NoLink, PageDescriptor.NoLink, PageDescriptor.NoLink, PageDescriptor.NoLink];
    private readonly long[] _count = new long[4];
    private readonly long[] _byUse = new long[6];

    public PageMap(long pages)
    {
        _pages = new PageDescriptor[pages];
        _byUse[(int)PageUse.Unheld] = pages;
    }

    public long Length => _pages.Length;
    public ref PageDescriptor this[ulong gfn] => ref _pages[gfn];

    /// <summary>Pages currently put to <paramref name="use"/>.</summary>
    public long CountOf(PageUse use) => _byUse[(int)use];
    public long CountOf(LruList list) => _count[(int)list];
    public uint TailOf(LruList list) => _tail[(int)list];

    public void Grow(long pages)
    {
        if (pages <= _pages.Length) return;
        _byUse[(int)PageUse.Unheld] += pages - _pages.Length;
        Array.Resize(ref _pages, (int)pages);
    }

    /// <summary>Gives a page a new use (it must be off every list), keeping the per-use counts.</summary>
    public void Assign(ulong gfn, PageUse use, int owner, ulong index)
    {
        ref var p = ref _pages[gfn];
        _byUse[(int)p.Use]--;
        _byUse[(int)use]++;
        p.Assign(use, owner, index);
    }

    public static LruList ListFor(PageUse use, bool active) =>
        (use == PageUse.Anon ? LruList.InactiveAnon : LruList.InactiveFile) + (active ? 1 : 0);

    /// <summary>Puts a page at the head (newest end) of an LRU list.</summary>
    public void AddHead(ulong gfn, LruList list)
    {
        ref var p = ref _pages[gfn];
        int l = (int)list;
        p.Prev = PageDescriptor.NoLink;
        p.Next = _head[l];
        if (_head[l] != PageDescriptor.NoLink) _pages[_head[l]].Prev = (uint)gfn;
        else _tail[l] = (uint)gfn;
        _head[l] = (uint)gfn;
        _count[l]++;
        var flags = p.Flags | PageFlags.OnLru;
        p.Flags = list is LruList.ActiveAnon or LruList.ActiveFile ? flags | PageFlags.Active : flags & ~PageFlags.Active;
    }

    /// <summary>Takes a page off whichever LRU list it is on; nothing if it is on none.</summary>
    public void Remove(ulong gfn)
    {
        ref var p = ref _pages[gfn];
        if (!p.Has(PageFlags.OnLru)) return;
        int l = (int)ListFor(p.Use, p.Has(PageFlags.Active));
        if (p.Prev != PageDescriptor.NoLink) _pages[p.Prev].Next = p.Next; else _head[l] = p.Next;
        if (p.Next != PageDescriptor.NoLink) _pages[p.Next].Prev = p.Prev; else _tail[l] = p.Prev;
        p.Prev = p.Next = PageDescriptor.NoLink;
        p.Flags &= ~(PageFlags.OnLru | PageFlags.Active);
        _count[l]--;
    }
}
