using BenchmarkDotNet.Attributes;
using K4os.Compression.LZ4;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Native;

namespace Memvisor.Bench;

/// <summary>
/// Each native library Memvisor bound against the managed package that could replace it, on the same 4 KiB pages:
/// XXH3-64 (libxxhash vs System.IO.Hashing), LZ4 (liblz4 vs K4os.Compression.LZ4) and zstd level 3 (libzstd vs
/// ZstdSharp.Port). Memvisor keeps the faster: since issue 18 its XxHash is System.IO.Hashing's, and this checks
/// that libxxhash gives the same values.
/// </summary>
[MemoryDiagnoser]
public class NativeOrManagedBenchmarks
{
    private const int Pages = 256;
    private readonly byte[][] _pages = new byte[Pages][];
    private readonly byte[][] _lz4 = new byte[Pages][];
    private readonly byte[][] _zstd = new byte[Pages][];
    private readonly byte[] _out = new byte[2 * PageSize.Bytes];
    private Zstd _native = null!;
    private ZstdSharp.Compressor _managedCompressor = null!;
    private ZstdSharp.Decompressor _managedDecompressor = null!;

    [GlobalSetup]
    public void Setup()
    {
        _native = new Zstd();
        _managedCompressor = new ZstdSharp.Compressor(3);
        _managedDecompressor = new ZstdSharp.Decompressor();
        for (int i = 0; i < Pages; i++)
        {
            _pages[i] = new byte[PageSize.Bytes];
            ContentGenerator.Fill(ContentClass.Compressible, (ulong)i + 1, _pages[i]);
            _lz4[i] = _out.AsSpan(0, Lz4.Compress(_pages[i], _out)).ToArray();
            _zstd[i] = _out.AsSpan(0, _native.Compress(_pages[i], _out)).ToArray();
            if (NativeXxh3.Hash64(_pages[i], 5) != XxHash.Hash64(_pages[i], 5))
                throw new InvalidOperationException("libxxhash and Memvisor's XXH3 disagree.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _native.Dispose();
        _managedCompressor.Dispose();
        _managedDecompressor.Dispose();
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public ulong Xxh3Native()
    {
        ulong h = 0;
        for (int i = 0; i < Pages; i++) h ^= NativeXxh3.Hash64(_pages[i]);
        return h;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public ulong Xxh3Managed()
    {
        ulong h = 0;
        for (int i = 0; i < Pages; i++) h ^= System.IO.Hashing.XxHash3.HashToUInt64(_pages[i]);
        return h;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public long Lz4CompressNative()
    {
        long n = 0;
        for (int i = 0; i < Pages; i++) n += Lz4.Compress(_pages[i], _out);
        return n;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public long Lz4CompressManaged()
    {
        long n = 0;
        for (int i = 0; i < Pages; i++) n += LZ4Codec.Encode(_pages[i], _out, LZ4Level.L00_FAST);
        return n;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public long Lz4DecompressNative()
    {
        long n = 0;
        for (int i = 0; i < Pages; i++) n += Lz4.Decompress(_lz4[i], _out.AsSpan(0, PageSize.Bytes));
        return n;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public long Lz4DecompressManaged()
    {
        long n = 0;
        for (int i = 0; i < Pages; i++) n += LZ4Codec.Decode(_lz4[i], _out.AsSpan(0, PageSize.Bytes));
        return n;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public long ZstdCompressNative()
    {
        long n = 0;
        for (int i = 0; i < Pages; i++) n += _native.Compress(_pages[i], _out);
        return n;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public long ZstdCompressManaged()
    {
        long n = 0;
        for (int i = 0; i < Pages; i++) n += _managedCompressor.Wrap(_pages[i], _out);
        return n;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public long ZstdDecompressNative()
    {
        long n = 0;
        for (int i = 0; i < Pages; i++) n += _native.Decompress(_zstd[i], _out.AsSpan(0, PageSize.Bytes));
        return n;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public long ZstdDecompressManaged()
    {
        long n = 0;
        for (int i = 0; i < Pages; i++) n += _managedDecompressor.Unwrap(_zstd[i], _out.AsSpan(0, PageSize.Bytes));
        return n;
    }
}

/// <summary>libxxhash's XXH3, which Memvisor called before issue 18: kept here to measure against and to check values.</summary>
internal static partial class NativeXxh3
{
    [System.Runtime.InteropServices.LibraryImport("libxxhash.so.0", EntryPoint = "XXH3_64bits_withSeed")]
    private static partial ulong Xxh3WithSeed(ReadOnlySpan<byte> data, nuint length, ulong seed);

    public static ulong Hash64(ReadOnlySpan<byte> data, ulong seed = 0) => Xxh3WithSeed(data, (nuint)data.Length, seed);
}
