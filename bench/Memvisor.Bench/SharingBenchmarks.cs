using Memvisor.Seam;
using BenchmarkDotNet.Attributes;
using Memvisor.Hypervisor.Domains;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Native;
using Memvisor.Hypervisor;

namespace Memvisor.Bench;

/// <summary>
/// The sharing scanner per page and content class, to set beside Linux KSM's ~600,000 pages/s per core:
/// <c>HashAndCompare</c> is KSM's own work on bytes already in memory (zero check, XXH3 of the page, a full compare
/// with the candidate of equal hash); <c>Scan</c> is Memvisor's whole scanner step over guest frames (generating a
/// synthetic page's bytes, the stable and unstable indexes, merging into a copy-on-write frame).
/// </summary>
[MemoryDiagnoser]
public class SharingBenchmarks
{
    private const int Pages = 4096;
    private readonly byte[][] _pages = new byte[Pages][];
    private readonly byte[][] _twins = new byte[Pages][];
    private Host _hv = null!;
    private Domain _a = null!, _b = null!;

    [Params(ContentClass.Zero, ContentClass.KernelText, ContentClass.Compressible, ContentClass.Incompressible)]
    public ContentClass Class { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        for (int i = 0; i < Pages; i++)
        {
            _pages[i] = new byte[PageSize.Bytes];
            ContentGenerator.Fill(Class, (ulong)i + 1, _pages[i]);
            _twins[i] = (byte[])_pages[i].Clone();
        }
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public int HashAndCompare()
    {
        int matches = 0;
        for (int i = 0; i < Pages; i++)
        {
            var page = _pages[i].AsSpan();
            if (page.IndexOfAnyExcept((byte)0) < 0) { matches++; continue; }
            ulong hash = XxHash.Hash64(page);
            if (hash != 0 && page.SequenceEqual(_twins[i])) matches++;
        }
        return matches;
    }

    // Two domains whose pages hold the same contents: half the scans find a candidate, half merge into it.
    [IterationSetup(Target = nameof(Scan))]
    public void BuildHost()
    {
        _hv?.Dispose();
        _hv = new Host(new MachineMemory(4 * Pages, 1), new CostModel(), () => 0,
            new Memvisor.Hypervisor.OvercommitOptions { Sharing = new Memvisor.Hypervisor.Sharing.SharingOptions { Enabled = true } });
        _a = Create("a");
        _b = Create("b");
    }

    private Domain Create(string name)
    {
        _hv.CreateDomain(new DomainConfig { Name = name, MemoryPages = Pages, MaxPages = Pages }, out var d);
        var port = _hv.PortFor(d!);
        for (int i = 0; i < Pages; i++)
            port.Touch(new Gfn((ulong)i), write: true, Class == ContentClass.Zero ? ContentHandle.Zero : ContentHandle.Synthetic(Class, (ulong)i + 1));
        return d!;
    }

    [Benchmark(OperationsPerInvoke = 2 * Pages)]
    public long Scan()
    {
        for (int i = 0; i < Pages; i++) _hv.Sharing.ScanGfn(_a, (ulong)i);
        for (int i = 0; i < Pages; i++) _hv.Sharing.ScanGfn(_b, (ulong)i);
        return _hv.Sharing.SavedPages;
    }

    [GlobalCleanup]
    public void Cleanup() => _hv?.Dispose();
}
