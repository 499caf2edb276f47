using FsCheck;
using FsCheck.Fluent;
using Memvisor.Machine;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Heap;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Machine;

public class BuddyHeapTests
{
    [Fact]
    public void A_fresh_node_is_carved_into_maximal_aligned_blocks()
    {
        var m = new MachineMemory((1 << 18) + 512 + 3, 1);
        var heap = m.Nodes[0];
        Assert.Equal(1, heap.FreeBlocks(18));
        Assert.Equal(1, heap.FreeBlocks(9));
        Assert.Equal(1, heap.FreeBlocks(1));
        Assert.Equal(1, heap.FreeBlocks(0));
        Assert.Equal((1 << 18) + 512 + 3, heap.FreePages);
    }

    [Fact]
    public void Allocation_splits_and_free_merges_back_to_one_block()
    {
        var m = new MachineMemory(1024, 1);
        var heap = m.Nodes[0];
        Assert.True(heap.TryAllocate(0, out uint a));
        Assert.Equal(1023, heap.FreePages);
        Assert.Equal(0, heap.FreeBlocks(10));
        Assert.Equal(1, heap.FreeBlocks(9));
        Assert.Equal(1, heap.FreeBlocks(0));
        heap.Free(a, 0);
        Assert.Equal(1, heap.FreeBlocks(10));
        Assert.Equal(0, heap.FreeBlocks(0));
    }

    [Fact]
    public void Allocation_falls_back_to_another_node_when_the_preferred_one_is_full()
    {
        var m = new MachineMemory(2048, 2);
        Assert.True(m.TryAllocate(10, 1, 5, out uint first));
        Assert.Equal(1, m.NodeOf(first));
        Assert.True(m.TryAllocate(0, 1, 5, out uint second));
        Assert.Equal(0, m.NodeOf(second));
        Assert.True(m.TryAllocate(9, 1, 5, out _));
        Assert.False(m.TryAllocate(9, 1, 5, out _));
        Assert.Equal(511, m.FreeFrames);
    }

    [Fact]
    public void Free_pages_below_an_order_measure_fragmentation()
    {
        var m = new MachineMemory(1024, 1);
        var heap = m.Nodes[0];
        var held = new List<uint>();
        for (int i = 0; i < 1024; i++) { Assert.True(heap.TryAllocate(0, out uint mfn)); held.Add(mfn); }
        for (int i = 0; i < 1024; i += 2) heap.Free(held[i], 0);
        Assert.Equal(512, heap.FreePages);
        Assert.Equal(512, heap.FreePagesBelowOrder(1));
        Assert.Equal(0, heap.LargestFreeOrder());
        Assert.False(heap.TryAllocate(1, out _));
    }

    public sealed record HeapOp(bool Allocate, int Order, int Pick);

    [Fact]
    public void Random_allocations_and_frees_never_overlap_and_always_merge_back()
    {
        var op = from alloc in Gen.Elements(true, true, false)
                 from order in Gen.Choose(0, 10)
                 from pick in Gen.Choose(0, 1000)
                 select new HeapOp(alloc, order, pick);
        Properties.Check(op.ListOf().Select(l => l.ToList()), ops =>
        {
            const int frames = 4096 + 777;
            var m = new MachineMemory(frames, 1);
            var heap = m.Nodes[0];
            var blocks = new List<(uint Mfn, int Order)>();
            var owner = new int[frames];
            foreach (var o in ops)
            {
                if (o.Allocate && heap.TryAllocate(o.Order, out uint mfn))
                {
                    Assert.Equal(0u, mfn % (1u << o.Order));
                    for (uint i = 0; i < 1u << o.Order; i++)
                    {
                        Assert.Equal(0, owner[mfn + i]);
                        Assert.False(m.Frames[mfn + i].IsFree);
                        owner[mfn + i] = 1;
                    }
                    blocks.Add((mfn, o.Order));
                }
                else if (!o.Allocate && blocks.Count > 0)
                {
                    var (b, k) = blocks[o.Pick % blocks.Count];
                    blocks.Remove((b, k));
                    heap.Free(b, k);
                    for (uint i = 0; i < 1u << k; i++) owner[b + i] = 0;
                }
                long held = blocks.Sum(x => 1L << x.Order);
                Assert.Equal(frames - held, heap.FreePages);
                Assert.Equal(frames - held, Enumerable.Range(0, frames).Count(i => m.Frames[(uint)i].IsFree));
                // Free-list links exist exactly for the 512-frame chunks that hold a free block head.
                int chunksWithHeads = Enumerable.Range(0, frames).Where(i => (m.Frames[(uint)i].Flags & FrameFlags.FreeHead) != 0).Select(i => i >> 9).Distinct().Count();
                Assert.Equal(chunksWithHeads, heap.LiveLinkChunks);
            }
            foreach (var (b, k) in blocks) heap.Free(b, k);
            var fresh = new MachineMemory(frames, 1).Nodes[0];
            for (int k = 0; k <= BuddyHeap.MaxOrder; k++)
                Assert.Equal(fresh.FreeBlocks(k), heap.FreeBlocks(k));
        }, maxTest: 60);
    }

    [Fact]
    public void Free_list_links_cost_bytes_only_where_free_blocks_are()
    {
        const int frames = 1 << 20;
        var m = new MachineMemory(frames, 1);
        var heap = m.Nodes[0];
        // Four free 1 GiB blocks: four chunks of links, not 8 bytes for each of the 4 GiB's frames.
        Assert.Equal(4, heap.LiveLinkChunks);
        long fresh = heap.LinkBytes;
        Assert.True(fresh < frames / 8, $"a free node keeps {fresh} bytes of links for {frames} frames.");
        var taken = new List<uint>();
        while (heap.TryAllocate(0, out uint mfn)) taken.Add(mfn);
        Assert.Equal(frames, taken.Count);
        Assert.Equal(0, heap.LiveLinkChunks);
        Assert.True(heap.PeakLinkBytes >= heap.LinkBytes);
        // Freeing every other frame leaves order-0 blocks in every chunk: the links come back, 8 bytes per frame at most.
        for (int i = 0; i < taken.Count; i += 2) heap.Free(taken[i], 0);
        Assert.Equal(frames >> 9, heap.LiveLinkChunks);
        Assert.True(heap.LinkBytes <= 8L * frames + (frames >> 9) * 10, $"{heap.LinkBytes} bytes of links for {frames} frames.");
    }
}
