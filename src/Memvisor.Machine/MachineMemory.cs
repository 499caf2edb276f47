using System.Buffers.Binary;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Heap;
using Memvisor.Machine.Scrub;
using Memvisor.Native;
using Memvisor.Machine.Lanes;
using Memvisor.Machine.Tiers;

namespace Memvisor.Machine;

/// <summary>
/// Machine memory: N frames split evenly over NUMA nodes (or over tiered nodes of given kinds and sizes), the frame
/// table, one buddy heap per node, the scrubber and the content store that holds the frames' bytes. Allocation prefers
/// a node and falls back to the others in order, as Xen's alloc_heap_pages does (on a tiered machine the fastest
/// first); a frame is always zero when it is handed out.
/// </summary>
public sealed class MachineMemory
{
    private readonly BuddyHeap[] _nodes;

    public MachineMemory(long frames, int numaNodes) : this(frames, EvenSplit(frames, numaNodes), null, 0)
    {
    }

    /// <summary>A tiered machine: one node per entry, in order, each of its kind and size (node 0 must have CPUs: the hypervisor and dom0 live there).</summary>
    /// <param name="remoteDramNs">What another CPU node's DRAM costs beyond local (costs.numa_remote_ns): the fallback order weighs it.</param>
    public MachineMemory(IReadOnlyList<MemoryNodeSpec> nodes, double remoteDramNs = 0) : this(Sum(nodes), nodes.Select(n => n.Frames).ToArray(), nodes, remoteDramNs)
    {
    }

    private MachineMemory(long frames, long[] sizes, IReadOnlyList<MemoryNodeSpec>? tiers, double remoteDramNs = 0)
    {
        if (sizes.Length < 1 || sizes.Length > 64)
            throw new ArgumentOutOfRangeException(nameof(sizes), sizes.Length, "A machine has between 1 and 64 NUMA nodes.");
        if (sizes.Any(s => s < 1))
            throw new ArgumentOutOfRangeException(nameof(frames), frames, "A machine needs at least one frame per NUMA node.");
        if (tiers is not null && !tiers[0].HasCpus)
            throw new ArgumentException("Node 0 of a tiered machine must be DRAM with CPUs: the hypervisor and dom0 live there.", nameof(tiers));
        Frames = new FrameTable(frames);
        Contents = new ContentStore();
        Digests = new HandleMemo(frames);
        Scrubber = new Scrubber(Frames, Contents);
        Tiers = tiers;
        _nodes = new BuddyHeap[sizes.Length];
        uint first = 0;
        for (int n = 0; n < sizes.Length; n++)
        {
            _nodes[n] = new BuddyHeap(n, Frames, first, (uint)sizes[n]);
            _nodes[n].AddAllFrames();
            first += (uint)sizes[n];
        }
        _fallback = tiers is null ? null : FallbackOrders(tiers, remoteDramNs);
    }

    private static long[] EvenSplit(long frames, int numaNodes)
    {
        if (numaNodes < 1 || numaNodes > 64)
            throw new ArgumentOutOfRangeException(nameof(numaNodes), numaNodes, "A machine has between 1 and 64 NUMA nodes.");
        if (frames < numaNodes)
            throw new ArgumentOutOfRangeException(nameof(frames), frames, "A machine needs at least one frame per NUMA node.");
        var sizes = new long[numaNodes];
        long perNode = frames / numaNodes;
        for (int n = 0; n < numaNodes; n++) sizes[n] = n == numaNodes - 1 ? frames - perNode * (numaNodes - 1) : perNode;
        return sizes;
    }

    private static long Sum(IReadOnlyList<MemoryNodeSpec> nodes) => nodes.Count == 0 ? 0 : nodes.Sum(n => n.Frames);

    // Where a tiered machine looks when the preferred node is full: the other nodes, the fastest to read from the
    // preferred node first (another CPU node's DRAM costing remoteDramNs more; then by number), so that DRAM fills
    // before CXL, CXL before NVM and NVM before NVMe.
    private static int[][] FallbackOrders(IReadOnlyList<MemoryNodeSpec> tiers, double remoteDramNs)
    {
        var orders = new int[tiers.Count][];
        for (int p = 0; p < tiers.Count; p++)
            orders[p] = [p, .. Enumerable.Range(0, tiers.Count).Where(n => n != p)
                .OrderBy(n => tiers[n].Costs.AccessNs(tiers[n].Kind, write: false) + (tiers[n].HasCpus ? remoteDramNs : 0)).ThenBy(n => n)];
        return orders;
    }

    private readonly int[][]? _fallback;

    /// <summary>The kinds, sizes and costs of a tiered machine's nodes; null for a machine of like DRAM nodes (numa_nodes).</summary>
    public IReadOnlyList<MemoryNodeSpec>? Tiers { get; }

    public FrameTable Frames { get; }
    public ContentStore Contents { get; }
    /// <summary>The XXH3 hashes (XxHash.Hash64) of synthetic pages by handle, shared by everything that hashes page bytes (sharing, tmem).</summary>
    public HandleMemo Digests { get; }
    public Scrubber Scrubber { get; }
    public IReadOnlyList<BuddyHeap> Nodes => _nodes;
    public long TotalFrames => Frames.Count;

    /// <summary>Frames in the heaps, scrubbed or not (host free memory as squeezed counts it).</summary>
    public long FreeFrames
    {
        get
        {
            long free = 0;
            foreach (var node in _nodes) free += node.FreePages;
            return free;
        }
    }

    /// <summary>Bytes of per-frame bookkeeping this layer keeps: frame table and heap links.</summary>
    public long MetadataBytes
    {
        get
        {
            long bytes = Frames.SizeInBytes;
            foreach (var node in _nodes) bytes += node.LinkBytes;
            return bytes;
        }
    }

    public int NodeOf(uint mfn)
    {
        foreach (var node in _nodes)
            if (node.Contains(mfn)) return node.Node;
        throw new ArgumentOutOfRangeException(nameof(mfn), mfn, "This mfn is beyond the machine's memory.");
    }

    /// <summary>
    /// Allocates 2^order contiguous frames for <paramref name="owner"/>, on <paramref name="preferredNode"/> if it has
    /// them, else on the next nodes in turn. Frames still holding old bytes are scrubbed before they are returned.
    /// </summary>
    public bool TryAllocate(int order, int preferredNode, ushort owner, out uint mfn)
    {
        Turn.Require("the heap");
        var fallback = _fallback?[(uint)preferredNode < (uint)_nodes.Length ? preferredNode : 0];
        for (int i = 0; i < _nodes.Length; i++)
        {
            var heap = _nodes[fallback is null ? (preferredNode + i) % _nodes.Length : fallback[i]];
            if (TakeFrom(heap, order, owner, out mfn)) return true;
        }
        mfn = 0;
        return false;
    }

    /// <summary>Allocates 2^order frames on node <paramref name="node"/> only (Xen's MEMF_exact_node): false if it has none.</summary>
    public bool TryAllocateOn(int node, int order, ushort owner, out uint mfn)
    {
        Turn.Require("the heap");
        mfn = 0;
        return (uint)node < (uint)_nodes.Length && TakeFrom(_nodes[node], order, owner, out mfn);
    }

    private bool TakeFrom(BuddyHeap heap, int order, ushort owner, out uint mfn)
    {
        if (!heap.TryAllocate(order, out mfn)) return false;
        uint count = 1u << order;
        for (uint j = 0; j < count; j++)
        {
            ref var f = ref Frames[mfn + j];
            Scrubber.ScrubForAllocation(ref f);
            f.Owner = owner;
            f.Type = PageType.None;
            f.TypeCount = 0;
            f.RefCount = 0;
        }
        return true;
    }

    /// <summary>Returns 2^order frames to their node's heap; any holding non-zero bytes become scrub-pending.</summary>
    public void Free(uint mfn, int order)
    {
        Turn.Require("the heap");
        uint count = 1u << order;
        for (uint j = 0; j < count; j++)
            Scrubber.MarkFreed(ref Frames[mfn + j], mfn + j);
        _nodes[NodeOf(mfn)].Free(mfn, order);
    }

    /// <summary>Copies the bytes of frame <paramref name="mfn"/> into <paramref name="page"/>.</summary>
    public void ReadFrame(uint mfn, Span<byte> page) => Contents.Read(Frames[mfn].Content, page);

    /// <summary>Stores real bytes into a frame (deduplicated in the content store).</summary>
    public void WriteFrame(uint mfn, ReadOnlySpan<byte> page) => SetContent(mfn, Contents.Store(page));

    /// <summary>Reads 64-bit word <paramref name="index"/> (0..511) of a frame, little-endian as x86 stores it.</summary>
    public ulong ReadWord(uint mfn, int index)
    {
        var content = Frames[mfn].Content;
        if (content.IsZero) return 0;
        if (content.IsPrivate)
            return Contents.Private.ReadWord(content.PrivateId, index * 8);
        Span<byte> page = stackalloc byte[PageSize.Bytes];
        Contents.Read(content, page);
        return BinaryPrimitives.ReadUInt64LittleEndian(page[(index * 8)..]);
    }

    /// <summary>Word <paramref name="index"/> of a frame whose bytes are private or zero, read without side effects; false for other content (a hint's reader, not the model's).</summary>
    public bool TryPeekWord(uint mfn, int index, out ulong value)
    {
        value = 0;
        if (mfn >= TotalFrames) return false;
        var content = Frames[mfn].Content;
        if (content.IsZero) return true;
        if (!content.IsPrivate) return false;
        value = Contents.Private.ReadWord(content.PrivateId, index * 8);
        return true;
    }

    /// <summary>Starts loading the cache line of word <paramref name="index"/> of a frame with private bytes (see <see cref="CacheLine"/>).</summary>
    public void PrefetchWord(uint mfn, int index)
    {
        if (mfn >= TotalFrames) return;
        var content = Frames[mfn].Content;
        if (content.IsPrivate) CacheLine.Prefetch(ref Contents.Private.At(content.PrivateId, index * 8));
    }

    /// <summary>Starts loading the frame table entry of <paramref name="mfn"/>.</summary>
    public void PrefetchFrame(uint mfn)
    {
        if (mfn < TotalFrames) CacheLine.Prefetch(ref Frames[mfn]);
    }

    /// <summary>Writes 64-bit word <paramref name="index"/> of a frame; the frame's bytes become a private buffer if they were not one.</summary>
    public void WriteWord(uint mfn, int index, ulong value) =>
        BinaryPrimitives.WriteUInt64LittleEndian(MutableBytes(mfn)[(index * 8)..], value);

    /// <summary>The frame's bytes as a mutable buffer (made private if they were not), for the hypervisor's own frames that pack data (compression cache).</summary>
    public Span<byte> MutableBytes(uint mfn)
    {
        ref var f = ref Frames[mfn];
        if (!f.Content.IsPrivate)
        {
            int id = Contents.Private.Allocate();
            if (!f.Content.IsZero) Contents.Read(f.Content, Contents.Private.Bytes(id));
            Contents.Release(f.Content);
            f.Content = ContentHandle.Private(id);
        }
        return Contents.Private.Bytes(f.Content.PrivateId);
    }

    /// <summary>The frame's bytes without copying when they are held (stored or private); otherwise they are generated into <paramref name="scratch"/>.</summary>
    public ReadOnlySpan<byte> View(uint mfn, Span<byte> scratch) => Contents.View(Frames[mfn].Content, scratch);

    /// <summary>Points a frame at a content the caller holds one reference on; the frame's old content is released.</summary>
    public void SetContent(uint mfn, ContentHandle handle)
    {
        ref var f = ref Frames[mfn];
        Contents.Release(f.Content);
        f.Content = handle;
    }
}
