using Memvisor.Machine.Frames;

namespace Memvisor.Hypervisor.Personalities;

/// <summary>
/// ESX's minFree: the free memory the VMkernel keeps, on the sliding scale of vSphere 5 and later (Mem.MinFreePct:
/// 6% of the first 4 GiB, 4% of the next 8 GiB, 2% of the next 16 GiB, 1% of the rest; about 899 MB for 28 GB). The
/// free-memory states are shares of it; vSphere 6 breaks large pages for sharing once free memory falls below 400% of
/// it, the High state's threshold (Epping, "What happens at which vSphere memory state?", 2015; vSphere 6.0 Resource
/// Management Guide).
/// </summary>
public static class EsxMinFree
{
    private static readonly (long Bytes, double Share)[] Bands = [(4L << 30, 0.06), (8L << 30, 0.04), (16L << 30, 0.02)];

    /// <summary>How far below its High threshold (a multiple of minFree) free memory must fall before large pages are broken.</summary>
    public const int BreakLargePagesAt = 4;

    public static long Pages(long hostPages)
    {
        double bytes = 0;
        long left = hostPages * PageSize.Bytes;
        foreach (var (band, share) in Bands)
        {
            long inBand = Math.Min(left, band);
            bytes += inBand * share;
            left -= inBand;
        }
        bytes += left * 0.01;
        return (long)(bytes / PageSize.Bytes);
    }
}
