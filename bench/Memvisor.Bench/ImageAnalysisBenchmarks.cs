using BenchmarkDotNet.Attributes;
using Memvisor.Guest.Images;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Sim.Images;

namespace Memvisor.Bench;

/// <summary>
/// memvisor analyze per page of a 64 MiB raw image in the page cache, to set beside Linux KSM's ~600,000 pages/s per
/// core: 40% zero pages, 30% pages of a pool of 64 contents, 30% unique pages of kernel text, compressible data and
/// random bytes. <c>Scan</c> is reading and the sharing counts alone; <c>Analyze</c> adds LZ4, zstd and patching on
/// one in 16 of the pages left (what --sample picks for about 1 GiB of images).
/// </summary>
[MemoryDiagnoser]
public class ImageAnalysisBenchmarks
{
    private const int Pages = 16_384;
    private string _path = null!;

    [GlobalSetup]
    public void Setup()
    {
        _path = Path.Combine(Path.GetTempPath(), $"memvisor-bench-{Environment.ProcessId}.raw");
        using var file = File.Create(_path);
        var page = new byte[PageSize.Bytes];
        ContentClass[] unique = [ContentClass.KernelText, ContentClass.Compressible, ContentClass.Incompressible];
        for (int i = 0; i < Pages; i++)
        {
            int kind = i % 10;
            if (kind < 4) Array.Clear(page);
            else if (kind < 7) ContentGenerator.Fill(ContentClass.KernelText, 1_000_000 + (ulong)(i % 64), page);
            else ContentGenerator.Fill(unique[i % 3], (ulong)i, page);
            file.Write(page);
        }
    }

    [GlobalCleanup]
    public void Cleanup() => File.Delete(_path);

    [Benchmark(OperationsPerInvoke = Pages)]
    public long Scan() => Run(sample: int.MaxValue);

    [Benchmark(OperationsPerInvoke = Pages)]
    public long Analyze() => Run(sample: 16);

    private long Run(int sample)
    {
        using var analysis = new ImageAnalysis(sample: sample);
        analysis.Add(ImageFile.Open(_path, "raw"));
        return analysis.SavedPages + analysis.Lz4Bytes;
    }
}
