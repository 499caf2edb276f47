namespace Memvisor.Hypervisor.Compression;

/// <summary>What the compression caches did, over all domains.</summary>
public record struct CompressionStats
{
    /// <summary>Pages put into a compression cache.</summary>
    public long PagesCompressed;
    /// <summary>Pages decompressed on the guest's access.</summary>
    public long PagesDecompressed;
    /// <summary>Pages that did not compress to half a page and went to swap instead.</summary>
    public long Incompressible;
    /// <summary>Oldest compressed pages moved to swap to make room.</summary>
    public long EvictedToSwap;
    /// <summary>Sum of the compressed sizes of every page compressed, for the ratio.</summary>
    public long CompressedBytesTotal;
    public double CpuNs;
}
