using Memvisor.Machine;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Tiers;

namespace Memvisor.Tests.Machine;

/// <summary>A tiered machine: nodes of given kinds and sizes, frames numbered node by node, and a heap that falls back to the fastest node with room.</summary>
public class TieredMachineTests
{
    private static MemoryNodeSpec Node(MemoryKind kind, long frames) => new(kind, frames, TierDefaults.For(kind));

    [Fact]
    public void Frames_belong_to_their_nodes_and_the_heap_fills_dram_then_cxl_then_nvm()
    {
        var m = new MachineMemory([Node(MemoryKind.Dram, 512), Node(MemoryKind.Nvm, 1024), Node(MemoryKind.Cxl, 256)]);
        Assert.Equal(1792, m.TotalFrames);
        Assert.Equal((0, 0, 1, 1, 2), (m.NodeOf(0), m.NodeOf(511), m.NodeOf(512), m.NodeOf(1535), m.NodeOf(1536)));
        var nodes = new List<int>();
        for (int i = 0; i < 1792; i++)
        {
            Assert.True(m.TryAllocate(0, 0, 1, out uint mfn));
            nodes.Add(m.NodeOf(mfn));
        }
        // DRAM first, then the CXL node though it is listed last, then NVM.
        Assert.Equal([.. Enumerable.Repeat(0, 512), .. Enumerable.Repeat(2, 256), .. Enumerable.Repeat(1, 1024)], nodes);
        Assert.False(m.TryAllocate(0, 0, 1, out _));
    }

    [Fact]
    public void Node_zero_must_have_cpus_and_an_untiered_machine_keeps_its_rotation()
    {
        Assert.Throws<ArgumentException>(() => new MachineMemory([Node(MemoryKind.Cxl, 64), Node(MemoryKind.Dram, 64)]));
        var even = new MachineMemory(4096, 2);
        Assert.Null(even.Tiers);
        for (int i = 0; i < 2048; i++) Assert.True(even.TryAllocate(0, 1, 1, out _));
        Assert.True(even.TryAllocate(0, 1, 1, out uint mfn));
        Assert.Equal(0, even.NodeOf(mfn));
    }

    [Fact]
    public void An_nvme_access_costs_a_page_at_the_devices_bandwidth()
    {
        var c = TierDefaults.Nvme;
        Assert.Equal(c.ReadNs + 4096 * 1e9 / c.BandwidthBytesPerSecond, c.AccessNs(MemoryKind.Nvme, write: false), 6);
        Assert.Equal(TierDefaults.Cxl.WriteNs, TierDefaults.Cxl.AccessNs(MemoryKind.Cxl, write: true));
        Assert.True(TierDefaults.Dram.ReadNs < TierDefaults.Cxl.ReadNs && TierDefaults.Cxl.ReadNs < TierDefaults.Nvm.ReadNs);
    }

    [Fact]
    public void The_fallback_weighs_another_cpu_nodes_dram_at_its_remote_cost()
    {
        // A CXL node at 100 ns beats a second socket's DRAM at 81 + 81 ns remote, though DRAM alone reads faster.
        var fast = new MemoryNodeSpec(MemoryKind.Cxl, 64, TierDefaults.Cxl with { ReadNs = 100 });
        var m = new MachineMemory([Node(MemoryKind.Dram, 64), Node(MemoryKind.Dram, 64), fast], remoteDramNs: 81);
        var nodes = new List<int>();
        for (int i = 0; i < 192; i++)
        {
            Assert.True(m.TryAllocate(0, 0, 1, out uint mfn));
            nodes.Add(m.NodeOf(mfn));
        }
        Assert.Equal([.. Enumerable.Repeat(0, 64), .. Enumerable.Repeat(2, 64), .. Enumerable.Repeat(1, 64)], nodes);
    }
}
