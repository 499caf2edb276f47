using Memvisor.Hypervisor.Compression;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;

namespace Memvisor.Sim.Images;

/// <summary>
/// What compressing the pages that stay after sharing would hold, with the hypervisor's own codecs (LZ4 and zstd
/// level 3, as the compression cache and tmem use them). A page that does not shrink is counted at its full 4096
/// bytes. The half-page share follows ESX's memory compression, which keeps a page in its cache only when it
/// compresses to 2 KiB or less; it is measured with LZ4, the cache's default codec.
/// </summary>
public sealed class CompressionTally : IDisposable
{
    public const int HalfPage = PageSize.Bytes / 2;

    private readonly PageCodec _lz4 = new(CompressionCodec.Lz4, new CostModel());
    private readonly PageCodec _zstd = new(CompressionCodec.Zstd, new CostModel());
    private readonly byte[] _out = new byte[PageSize.Bytes];

    /// <summary>Pages compressed (the sample, when the analysis samples).</summary>
    public long Pages { get; private set; }
    public long Lz4Bytes { get; private set; }
    public long ZstdBytes { get; private set; }
    /// <summary>Pages LZ4 compresses to half a page or less.</summary>
    public long HalfPagePages { get; private set; }

    public void Add(ReadOnlySpan<byte> page)
    {
        int lz4 = Stored(_lz4.Compress(page, _out));
        Pages++;
        Lz4Bytes += lz4;
        ZstdBytes += Stored(_zstd.Compress(page, _out));
        if (lz4 <= HalfPage) HalfPagePages++;
    }

    // A page that does not compress into a page is kept as it is.
    private static int Stored(int compressed) => compressed is <= 0 or > PageSize.Bytes ? PageSize.Bytes : compressed;

    public void Dispose()
    {
        _lz4.Dispose();
        _zstd.Dispose();
    }
}
