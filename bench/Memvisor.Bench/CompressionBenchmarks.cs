using BenchmarkDotNet.Attributes;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Native;

namespace Memvisor.Bench;

/// <summary>LZ4 and zstd (level 3) on one 4 KiB page of each content class, compress and decompress. Ratios: <c>bench ratios</c>.</summary>
[MemoryDiagnoser]
public class CompressionBenchmarks
{
    private const int Pages = 256;
    private readonly byte[][] _pages = new byte[Pages][];
    private readonly byte[][] _lz4 = new byte[Pages][];
    private readonly byte[][] _zstd = new byte[Pages][];
    private readonly byte[] _out = new byte[2 * PageSize.Bytes];
    private Zstd _codec = null!;

    [Params(ContentClass.KernelText, ContentClass.Compressible, ContentClass.Incompressible)]
    public ContentClass Class { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _codec = new Zstd();
        for (int i = 0; i < Pages; i++)
        {
            _pages[i] = new byte[PageSize.Bytes];
            ContentGenerator.Fill(Class, (ulong)i + 1, _pages[i]);
            _lz4[i] = _out.AsSpan(0, Lz4.Compress(_pages[i], _out)).ToArray();
            _zstd[i] = _out.AsSpan(0, _codec.Compress(_pages[i], _out)).ToArray();
        }
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public long Lz4Compress()
    {
        long bytes = 0;
        for (int i = 0; i < Pages; i++) bytes += Lz4.Compress(_pages[i], _out);
        return bytes;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public long Lz4Decompress()
    {
        long bytes = 0;
        for (int i = 0; i < Pages; i++) bytes += Lz4.Decompress(_lz4[i], _out.AsSpan(0, PageSize.Bytes));
        return bytes;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public long ZstdCompress()
    {
        long bytes = 0;
        for (int i = 0; i < Pages; i++) bytes += _codec.Compress(_pages[i], _out);
        return bytes;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public long ZstdDecompress()
    {
        long bytes = 0;
        for (int i = 0; i < Pages; i++) bytes += _codec.Decompress(_zstd[i], _out.AsSpan(0, PageSize.Bytes));
        return bytes;
    }

    [GlobalCleanup]
    public void Cleanup() => _codec.Dispose();
}
