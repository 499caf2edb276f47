using Memvisor.Machine.Frames;

namespace Memvisor.Machine.Heap;

/// <summary>
/// The buddy allocator of one NUMA node, after Xen's alloc_heap_pages/free_heap_pages (xen/common/page_alloc.c):
/// free lists per order 0..18, a block split on allocation and merged with its free buddy on release. A free block
/// head carries <see cref="FrameFlags.FreeHead"/> and its order. Xen threads the free lists through page_info; here
/// the links (next, prev) live beside the frame table in chunks of 512 frames that exist only while a chunk holds a
/// free block head, so allocated memory costs no link bytes. Released chunks are kept for reuse (up to
/// <see cref="SpareChunks"/>), so nothing here allocates per operation once the heap has settled.
/// </summary>
public sealed class BuddyHeap
{
    public const int MaxOrder = 18;
    private const uint Nil = uint.MaxValue;

    private const int ChunkShift = 9;
    private const uint ChunkMask = (1u << ChunkShift) - 1;
    private const int ChunkBytes = (1 << ChunkShift) * 2 * sizeof(uint);
    /// <summary>Released link chunks kept for reuse, so a chunk whose last free head comes and goes allocates nothing.</summary>
    public const int SpareChunks = 64;

    private readonly FrameTable _frames;
    // Per chunk of 512 frames: the links of its free block heads, interleaved (next at 2i, prev at 2i+1), or null.
    private readonly uint[]?[] _chunks;
    private readonly ushort[] _chunkHeads;
    private readonly Stack<uint[]> _spare = new(SpareChunks);
    private long _liveChunks;
    private readonly uint[] _heads = new uint[MaxOrder + 1];
    private readonly long[] _blocks = new long[MaxOrder + 1];

    public BuddyHeap(int node, FrameTable frames, uint firstMfn, uint frameCount)
    {
        Node = node;
        _frames = frames;
        FirstMfn = firstMfn;
        FrameCount = frameCount;
        long chunks = ((long)frameCount + ChunkMask) >> ChunkShift;
        _chunks = new uint[]?[chunks];
        _chunkHeads = new ushort[chunks];
        Array.Fill(_heads, Nil);
    }

    public int Node { get; }
    public uint FirstMfn { get; }
    public uint FrameCount { get; }
    public long FreePages { get; private set; }

    /// <summary>Bytes of free-list links this node keeps now: its live and spare chunks and the chunk index.</summary>
    public long LinkBytes => (_liveChunks + _spare.Count) * ChunkBytes + _chunks.LongLength * (IntPtr.Size + sizeof(ushort));

    /// <summary>Chunks of 512 frames whose free-list links exist now: those that hold a free block head.</summary>
    public long LiveLinkChunks => _liveChunks;

    /// <summary>The most <see cref="LinkBytes"/> has been.</summary>
    public long PeakLinkBytes { get; private set; }

    public bool Contains(uint mfn) => mfn - FirstMfn < FrameCount;

    /// <summary>Free blocks of exactly this order.</summary>
    public long FreeBlocks(int order) => _blocks[order];

    /// <summary>Hands every frame of the node to the heap as maximal aligned blocks (Xen's init_heap_pages).</summary>
    public void AddAllFrames()
    {
        uint offset = 0;
        while (offset < FrameCount)
        {
            int order = MaxOrder;
            while (order > 0 && ((offset & ((1u << order) - 1)) != 0 || offset + (1u << order) > FrameCount))
                order--;
            MarkFree(offset, order);
            Push(offset, order);
            FreePages += 1L << order;
            offset += 1u << order;
        }
    }

    /// <summary>Takes a block of 2^order frames, splitting a larger one if needed. Returns false if none is free.</summary>
    public bool TryAllocate(int order, out uint mfn)
    {
        int k = order;
        while (k <= MaxOrder && _heads[k] == Nil) k++;
        if (k > MaxOrder)
        {
            mfn = 0;
            return false;
        }

        uint offset = _heads[k];
        Remove(offset, k);
        ref var head = ref _frames[FirstMfn + offset];
        head.Flags &= ~FrameFlags.FreeHead;
        while (k > order)
        {
            k--;
            uint buddy = offset + (1u << k);
            ref var buddyHead = ref _frames[FirstMfn + buddy];
            buddyHead.Flags |= FrameFlags.FreeHead;
            buddyHead.TypeCount = (ushort)k;
            Push(buddy, k);
        }

        uint count = 1u << order;
        for (uint i = 0; i < count; i++)
            _frames[FirstMfn + offset + i].Flags &= ~FrameFlags.Free;
        FreePages -= count;
        mfn = FirstMfn + offset;
        return true;
    }

    /// <summary>Returns a block of 2^order frames and merges it with free buddies. The caller has set scrub state.</summary>
    public void Free(uint mfn, int order)
    {
        uint offset = mfn - FirstMfn;
        uint count = 1u << order;
        for (uint i = 0; i < count; i++)
        {
            ref var f = ref _frames[mfn + i];
            f.Flags = (f.Flags & FrameFlags.ScrubPending) | FrameFlags.Free;
            f.Owner = DomIds.Invalid;
            f.Type = PageType.None;
            f.TypeCount = 0;
            f.RefCount = 0;
        }
        FreePages += count;

        int k = order;
        while (k < MaxOrder)
        {
            uint buddy = offset ^ (1u << k);
            if (buddy + (1u << k) > FrameCount) break;
            ref var b = ref _frames[FirstMfn + buddy];
            if ((b.Flags & FrameFlags.FreeHead) == 0 || b.TypeCount != k) break;
            Remove(buddy, k);
            b.Flags &= ~FrameFlags.FreeHead;
            b.TypeCount = 0;
            offset = Math.Min(offset, buddy);
            k++;
        }
        ref var head = ref _frames[FirstMfn + offset];
        head.Flags |= FrameFlags.FreeHead;
        head.TypeCount = (ushort)k;
        Push(offset, k);
    }

    /// <summary>The largest order with a free block, or -1 when the node is full.</summary>
    public int LargestFreeOrder()
    {
        for (int k = MaxOrder; k >= 0; k--)
            if (_heads[k] != Nil) return k;
        return -1;
    }

    /// <summary>Free pages that sit in blocks smaller than <paramref name="order"/> (unusable for an allocation of that order).</summary>
    public long FreePagesBelowOrder(int order)
    {
        long pages = 0;
        for (int k = 0; k < order && k <= MaxOrder; k++) pages += _blocks[k] << k;
        return pages;
    }

    private void MarkFree(uint offset, int order)
    {
        uint count = 1u << order;
        for (uint i = 0; i < count; i++)
        {
            ref var f = ref _frames[FirstMfn + offset + i];
            f.Flags = FrameFlags.Free;
            f.Owner = DomIds.Invalid;
        }
        ref var head = ref _frames[FirstMfn + offset];
        head.Flags |= FrameFlags.FreeHead;
        head.TypeCount = (ushort)order;
    }

    private void Push(uint offset, int order)
    {
        AddHead(offset);
        uint old = _heads[order];
        Next(offset) = old;
        Prev(offset) = Nil;
        if (old != Nil) Prev(old) = offset;
        _heads[order] = offset;
        _blocks[order]++;
    }

    private void Remove(uint offset, int order)
    {
        uint n = Next(offset), p = Prev(offset);
        if (p != Nil) Next(p) = n; else _heads[order] = n;
        if (n != Nil) Prev(n) = p;
        _blocks[order]--;
        DropHead(offset);
    }

    private ref uint Next(uint offset) => ref _chunks[offset >> ChunkShift]![(offset & ChunkMask) << 1];
    private ref uint Prev(uint offset) => ref _chunks[offset >> ChunkShift]![((offset & ChunkMask) << 1) | 1];

    // A free head arrives in its chunk: the chunk's links exist from the first head on.
    private void AddHead(uint offset)
    {
        uint c = offset >> ChunkShift;
        if (_chunkHeads[c]++ > 0) return;
        _chunks[c] = _spare.Count > 0 ? _spare.Pop() : new uint[ChunkBytes / sizeof(uint)];
        _liveChunks++;
        PeakLinkBytes = Math.Max(PeakLinkBytes, LinkBytes);
    }

    // A free head leaves its chunk: the last one takes the chunk's links with it (kept as a spare while there is room).
    private void DropHead(uint offset)
    {
        uint c = offset >> ChunkShift;
        if (--_chunkHeads[c] > 0) return;
        if (_spare.Count < SpareChunks) _spare.Push(_chunks[c]!);
        _chunks[c] = null;
        _liveChunks--;
    }
}
