namespace Memvisor.Machine.Tiers;

/// <summary>What a memory node is made of: its kind sets its default costs (<see cref="TierDefaults"/>).</summary>
public enum MemoryKind
{
    /// <summary>DRAM on a CPU socket: the fast tier, and the only kind with CPUs.</summary>
    Dram,
    /// <summary>CXL-attached DRAM, a CPU-less node (Pond's zNUMA): loads and stores, slower than local DRAM.</summary>
    Cxl,
    /// <summary>Non-volatile memory DIMMs (Intel Optane DC PMM): loads and stores, slower reads, limited write bandwidth and endurance.</summary>
    Nvm,
    /// <summary>An NVMe device used as memory (vSphere memory tiering): reached a 4 KiB page at a time.</summary>
    Nvme,
}
