namespace Memvisor.Machine.Tiers;

/// <summary>
/// What an access to a memory node costs: the latency of a read and of a write (a cache line for a byte-addressable
/// node, a 4 KiB page for NVMe, whose transfer at <see cref="BandwidthBytesPerSecond"/> is added), and the node's
/// bandwidth.
/// </summary>
public readonly record struct NodeCosts(double ReadNs, double WriteNs, double BandwidthBytesPerSecond)
{
    /// <summary>The simulated time of one access of the given kind to this node.</summary>
    public double AccessNs(MemoryKind kind, bool write)
    {
        double ns = write ? WriteNs : ReadNs;
        return kind == MemoryKind.Nvme ? ns + 4096 * 1e9 / BandwidthBytesPerSecond : ns;
    }
}
