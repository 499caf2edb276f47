using System.Runtime.InteropServices;

namespace Memvisor.Native;

/// <summary>
/// zstd from the system's libzstd, with one compression and one decompression context per instance (each a
/// SafeHandle, freed even if Dispose is never called) so that compressing a page allocates nothing. Not thread-safe: each user keeps its own instance.
/// </summary>
public sealed partial class Zstd : IDisposable
{
    internal const string Library = "libzstd.so.1";

    private readonly ZstdCompressionContext _cctx;
    private readonly ZstdDecompressionContext _dctx;

    public Zstd(int level = 3)
    {
        Level = level;
        _cctx = ZstdCompressionContext.Create();
        _dctx = ZstdDecompressionContext.Create();
        if (_cctx.IsInvalid || _dctx.IsInvalid)
            throw new InvalidOperationException("libzstd could not create a compression context; the process is out of memory.");
    }

    public int Level { get; }

    // size_t ZSTD_compressCCtx(ZSTD_CCtx*, void* dst, size_t dstCapacity, const void* src, size_t srcSize, int level);
    [LibraryImport(Library, EntryPoint = "ZSTD_compressCCtx")]
    private static partial nuint CompressCCtx(ZstdCompressionContext cctx, Span<byte> dst, nuint dstCapacity, ReadOnlySpan<byte> src, nuint srcSize, int level);

    // size_t ZSTD_decompressDCtx(ZSTD_DCtx*, void* dst, size_t dstCapacity, const void* src, size_t srcSize);
    [LibraryImport(Library, EntryPoint = "ZSTD_decompressDCtx")]
    private static partial nuint DecompressDCtx(ZstdDecompressionContext dctx, Span<byte> dst, nuint dstCapacity, ReadOnlySpan<byte> src, nuint srcSize);

    [LibraryImport(Library, EntryPoint = "ZSTD_isError")]
    private static partial uint IsError(nuint code);

    /// <summary>Compresses <paramref name="source"/> into <paramref name="destination"/>; the compressed length, or 0 if it did not fit.</summary>
    public int Compress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        nuint n = CompressCCtx(_cctx, destination, (nuint)destination.Length, source, (nuint)source.Length, Level);
        return IsError(n) != 0 ? 0 : (int)n;
    }

    /// <summary>Decompresses into <paramref name="destination"/>; the decompressed length, or -1 if the input is corrupt.</summary>
    public int Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        nuint n = DecompressDCtx(_dctx, destination, (nuint)destination.Length, source, (nuint)source.Length);
        return IsError(n) != 0 ? -1 : (int)n;
    }

    public void Dispose()
    {
        _cctx.Dispose();
        _dctx.Dispose();
    }
}
