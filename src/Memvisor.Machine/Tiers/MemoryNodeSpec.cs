namespace Memvisor.Machine.Tiers;

/// <summary>One memory node of a tiered machine: its kind, its size in frames, whether CPUs sit on it (only DRAM's do), and its costs.</summary>
public sealed record MemoryNodeSpec(MemoryKind Kind, long Frames, NodeCosts Costs)
{
    /// <summary>Whether the node has CPUs: a DRAM node is a socket's memory; CXL, NVM and NVMe nodes are CPU-less (Linux's memory-only nodes).</summary>
    public bool HasCpus => Kind == MemoryKind.Dram;
}
