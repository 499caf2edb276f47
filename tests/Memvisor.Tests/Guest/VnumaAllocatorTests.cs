using Memvisor.Guest.Memory;

namespace Memvisor.Tests.Guest;

/// <summary>A guest with virtual NUMA nodes takes its CPUs' node's pages first and the CPU-less node's only when those are gone.</summary>
public class VnumaAllocatorTests
{
    [Fact]
    public void Allocations_take_the_local_node_first_then_fall_back_and_come_back_when_local_pages_are_freed()
    {
        var allocator = new PageAllocator(new PageMap(1024));
        for (ulong g = 0; g < 1024; g++) allocator.AddHeld(g);
        allocator.SetLocalNode(256);
        var taken = new List<ulong>();
        for (int i = 0; i < 256; i++)
        {
            Assert.True(allocator.TryTake(out ulong g));
            taken.Add(g);
        }
        Assert.All(taken, g => Assert.False(allocator.IsRemote(g), $"gfn {g} came from the CPU-less node while local pages were free"));
        Assert.Equal(256, taken.Distinct().Count());
        Assert.True(allocator.TryTake(out ulong remote));
        Assert.True(allocator.IsRemote(remote));
        // A local page given back is the next one taken.
        allocator.Give(taken[100]);
        Assert.True(allocator.TryTake(out ulong again));
        Assert.Equal(taken[100], again);
        // Every page can be had, each once.
        var rest = new HashSet<ulong>();
        while (allocator.TryTake(out ulong g)) Assert.True(rest.Add(g));
        Assert.Equal(1024 - 257, rest.Count);
    }

    [Fact]
    public void One_node_takes_pages_as_before()
    {
        var allocator = new PageAllocator(new PageMap(512));
        for (ulong g = 0; g < 512; g++) allocator.AddHeld(g);
        Assert.True(allocator.TryTake(out ulong g0));
        Assert.True(allocator.TryTake(out ulong g1));
        Assert.Equal((0UL, 1UL), (g0, g1));
        Assert.False(allocator.IsRemote(511));
    }

    [Fact]
    public void Promotion_and_demotion_targets_come_from_their_own_node_only()
    {
        var allocator = new PageAllocator(new PageMap(512));
        for (ulong g = 0; g < 512; g++) allocator.AddHeld(g);
        allocator.SetLocalNode(128);
        Assert.Equal((128L, 384L), (allocator.LocalFreePages(), allocator.RemoteFreePages()));
        for (int i = 0; i < 128; i++)
        {
            Assert.True(allocator.TryTakeLocal(out ulong g));
            Assert.False(allocator.IsRemote(g));
        }
        Assert.False(allocator.TryTakeLocal(out _));
        Assert.True(allocator.TryTakeRemote(out ulong r));
        Assert.True(allocator.IsRemote(r));
        Assert.Equal((0L, 383L), (allocator.LocalFreePages(), allocator.RemoteFreePages()));
        // A guest of one node has neither.
        var one = new PageAllocator(new PageMap(64));
        one.AddHeld(0);
        Assert.False(one.TryTakeLocal(out _) || one.TryTakeRemote(out _));
    }
}
