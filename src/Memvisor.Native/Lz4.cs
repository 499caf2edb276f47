using System.Runtime.InteropServices;

namespace Memvisor.Native;

/// <summary>LZ4 block compression from the system's liblz4: the fast codec of the compression cache and tmem.</summary>
public static partial class Lz4
{
    private const string Library = "liblz4.so.1";

    // int LZ4_compress_default(const char* src, char* dst, int srcSize, int dstCapacity);
    [LibraryImport(Library, EntryPoint = "LZ4_compress_default")]
    private static partial int CompressDefault(ReadOnlySpan<byte> src, Span<byte> dst, int srcSize, int dstCapacity);

    // int LZ4_decompress_safe(const char* src, char* dst, int compressedSize, int dstCapacity);
    [LibraryImport(Library, EntryPoint = "LZ4_decompress_safe")]
    private static partial int DecompressSafe(ReadOnlySpan<byte> src, Span<byte> dst, int compressedSize, int dstCapacity);

    /// <summary>Compresses <paramref name="source"/> into <paramref name="destination"/>; the compressed length, or 0 if it did not fit.</summary>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> destination) =>
        CompressDefault(source, destination, source.Length, destination.Length);

    /// <summary>Decompresses into <paramref name="destination"/>; the decompressed length, or a negative value if the input is corrupt.</summary>
    public static int Decompress(ReadOnlySpan<byte> source, Span<byte> destination) =>
        DecompressSafe(source, destination, source.Length, destination.Length);
}
