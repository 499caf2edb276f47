namespace Memvisor.Hypervisor.Compression;

/// <summary>Settings of the per-domain compression cache (ESX memory compression: Mem.MemZipEnable, Mem.MemZipMaxPct).</summary>
public sealed record CompressionOptions
{
    public bool Enabled { get; init; }
    public CompressionCodec Codec { get; init; } = CompressionCodec.Lz4;

    /// <summary>The cache's cap as a share of the domain's memory. Default 10%, as ESX's Mem.MemZipMaxPct.</summary>
    public double CacheShare { get; init; } = 0.10;
}
