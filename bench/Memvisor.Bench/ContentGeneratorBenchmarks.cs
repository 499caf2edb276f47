using BenchmarkDotNet.Attributes;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;

namespace Memvisor.Bench;

/// <summary>
/// Generating a synthetic page's bytes from its class and seed, per page: what every first look at a page costs the
/// sharing scanner, tmem, compression and the integrity checker. Seeds change every page, as they do in a run.
/// </summary>
[MemoryDiagnoser]
public class ContentGeneratorBenchmarks
{
    private const int Pages = 1024;
    private readonly byte[] _page = new byte[PageSize.Bytes];
    private ulong _seed;

    [Params(ContentClass.KernelText, ContentClass.Compressible, ContentClass.Incompressible)]
    public ContentClass Class { get; set; }

    [Benchmark(OperationsPerInvoke = Pages)]
    public byte Fill()
    {
        byte last = 0;
        for (int i = 0; i < Pages; i++)
        {
            ContentGenerator.Fill(Class, ++_seed * 0x9E37_79B9_7F4A_7C15UL, _page);
            last ^= _page[PageSize.Bytes - 1];
        }
        return last;
    }
}
