using System.Runtime.InteropServices;

namespace Memvisor.Native;

/// <summary>
/// zstd from the system's libzstd, with one compression and one decompression context per instance so that
/// compressing a page allocates nothing. Not thread-safe: each user keeps its own instance.
/// </summary>
public sealed partial class Zstd : IDisposable
{
    private const string Library = "libzstd.so.1";

    private nint _cctx;
    private nint _dctx;

    public Zstd(int level = 3)
    {
        Level = level;
        _cctx = CreateCCtx();
        _dctx = CreateDCtx();
        if (_cctx == 0 || _dctx == 0)
            throw new InvalidOperationException("libzstd could not create a compression context; the process is out of memory.");
    }

    public int Level { get; }

    [LibraryImport(Library, EntryPoint = "ZSTD_createCCtx")]
    private static partial nint CreateCCtx();

    [LibraryImport(Library, EntryPoint = "ZSTD_freeCCtx")]
    private static partial nuint FreeCCtx(nint cctx);

    [LibraryImport(Library, EntryPoint = "ZSTD_createDCtx")]
    private static partial nint CreateDCtx();

    [LibraryImport(Library, EntryPoint = "ZSTD_freeDCtx")]
    private static partial nuint FreeDCtx(nint dctx);

    // size_t ZSTD_compressCCtx(ZSTD_CCtx*, void* dst, size_t dstCapacity, const void* src, size_t srcSize, int level);
    [LibraryImport(Library, EntryPoint = "ZSTD_compressCCtx")]
    private static partial nuint CompressCCtx(nint cctx, Span<byte> dst, nuint dstCapacity, ReadOnlySpan<byte> src, nuint srcSize, int level);

    // size_t ZSTD_decompressDCtx(ZSTD_DCtx*, void* dst, size_t dstCapacity, const void* src, size_t srcSize);
    [LibraryImport(Library, EntryPoint = "ZSTD_decompressDCtx")]
    private static partial nuint DecompressDCtx(nint dctx, Span<byte> dst, nuint dstCapacity, ReadOnlySpan<byte> src, nuint srcSize);

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
        if (_cctx != 0) FreeCCtx(_cctx);
        if (_dctx != 0) FreeDCtx(_dctx);
        _cctx = _dctx = 0;
    }
}
