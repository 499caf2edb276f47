using Memvisor.Machine.Time;
using Memvisor.Native;

namespace Memvisor.Hypervisor.Compression;

/// <summary>One codec (LZ4 or zstd) with its contexts and its simulated costs; shared by the compression cache and tmem.</summary>
public sealed class PageCodec(CompressionCodec codec, CostModel costs) : IDisposable
{
    private readonly Zstd? _zstd = codec == CompressionCodec.Zstd ? new Zstd(3) : null;

    public CompressionCodec Codec { get; } = codec;
    public double CompressNs => Codec == CompressionCodec.Lz4 ? costs.Lz4CompressPageNs : costs.ZstdCompressPageNs;
    public double DecompressNs => Codec == CompressionCodec.Lz4 ? costs.Lz4DecompressPageNs : costs.ZstdDecompressPageNs;

    /// <summary>Compresses a page into <paramref name="destination"/>; the length, or 0 if it does not fit there.</summary>
    public int Compress(ReadOnlySpan<byte> page, Span<byte> destination) =>
        _zstd is null ? Lz4.Compress(page, destination) : _zstd.Compress(page, destination);

    /// <summary>Decompresses into <paramref name="page"/>; the length, or a negative value if the input is corrupt.</summary>
    public int Decompress(ReadOnlySpan<byte> compressed, Span<byte> page) =>
        _zstd is null ? Lz4.Decompress(compressed, page) : _zstd.Decompress(compressed, page);

    public void Dispose() => _zstd?.Dispose();
}
