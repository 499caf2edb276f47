namespace Memvisor.Machine.Tiers;

/// <summary>The default costs of each kind of memory node, with their sources (docs/model.md, "Memory nodes and tiers").</summary>
public static class TierDefaults
{
    /// <summary>Loaded-latency of local DRAM: about 81 ns for a random read (Izraelevitz et al. 2019, "Basic Performance Measurements of the Intel Optane DC Persistent Memory Module", Cascade Lake); writes land in the memory controller's queue at about the same. Six DDR4-2666 channels peak at 6 x 2666 MT/s x 8 B = 128 GB/s.</summary>
    public static readonly NodeCosts Dram = new(81, 81, 128e9);

    /// <summary>CXL memory adds 70-90 ns to a local DRAM access (Li et al., "Pond", ASPLOS'23): 81 + 80 ns. A PCIe 5.0 x8 link carries 32 GT/s x 8 lanes = about 32 GB/s each way.</summary>
    public static readonly NodeCosts Cxl = new(161, 161, 32e9);

    /// <summary>Optane DC PMM: about 305 ns for a random read and 94 ns for a write (it completes in the controller's persistence domain); 6.6 GB/s of read bandwidth per DIMM, 2.3 GB/s of write (Izraelevitz et al. 2019).</summary>
    public static readonly NodeCosts Nvm = new(305, 94, 6.6e9);

    /// <summary>A random 4 KiB read from an NVMe SSD, as hv_swap_read_ns (100 us), and a queued write (50 us); a PCIe 4.0 x4 link carries about 7.9 GB/s (16 GT/s x 4 lanes, 128b/130b).</summary>
    public static readonly NodeCosts Nvme = new(100_000, 50_000, 7.9e9);

    public static NodeCosts For(MemoryKind kind) => kind switch
    {
        MemoryKind.Dram => Dram,
        MemoryKind.Cxl => Cxl,
        MemoryKind.Nvm => Nvm,
        _ => Nvme,
    };

    /// <summary>The kind's name in scenarios and outputs.</summary>
    public static string Name(MemoryKind kind) => kind switch
    {
        MemoryKind.Dram => "dram",
        MemoryKind.Cxl => "cxl",
        MemoryKind.Nvm => "nvm",
        _ => "nvme",
    };

    public static readonly string[] Names = ["dram", "cxl", "nvm", "nvme"];
}
