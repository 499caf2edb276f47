using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;

namespace Memvisor.Guest.Workloads;

/// <summary>
/// One process whose heap grows and shrinks in 2 MiB chunks (malloc and free of large blocks, which glibc serves
/// with mmap and munmap). "grow" goes from nothing to its size over a time once; "grow-shrink" swings between two
/// sizes over each period, growing for the first half and shrinking for the second. Live chunks are touched
/// uniformly at the rate; each new chunk is written when it is allocated. "demand" follows a recorded guest's memory
/// in use over time (<see cref="DemandSchedule"/>).
/// </summary>
public sealed class GrowShrinkWorkload(string kind, Func<long, long> targetPages, double ratePerSecond, double writeFraction) : IWorkload
{
    public GrowShrinkWorkload(string kind, long fromPages, long toPages, long periodNs, bool repeat, double ratePerSecond, double writeFraction)
        : this(kind, t => Swing(fromPages, toPages, periodNs, repeat, t), ratePerSecond, writeFraction)
    {
    }

    private const long ChunkPages = 512;
    private readonly List<Process> _processes = [];
    private readonly List<Region> _chunks = [];
    private Process? _p;
    private double _credit;
    private AccessForecast? _ahead;

    public string Kind => kind;
    public IReadOnlyList<Process> Processes => _processes;

    public void Step(GuestKernel k, long nowNs, long dtNs)
    {
        if (_p is null)
        {
            _p = ProcessStart.Run(k, kind, _processes);
            if (_p is null) return;
        }
        if (_p.Exited) return;
        long want = (targetPages(nowNs + dtNs) + ChunkPages - 1) / ChunkPages;
        while (_chunks.Count < want && !_p.Exited)
        {
            var chunk = Region.Map(k, _p, ChunkPages);
            _chunks.Add(chunk);
            chunk.Initialise(k, _p);
        }
        while (_chunks.Count > want)
        {
            k.Unmap(_p, _chunks[^1].Address);
            _chunks.RemoveAt(_chunks.Count - 1);
        }
        if (_chunks.Count == 0) return;
        long n = k.TakeAccesses(ref _credit, ratePerSecond, dtNs);
        _ahead ??= new AccessForecast(f => AddressOf((long)f.Stream.NextBelow((ulong)(_chunks.Count * ChunkPages))));
        _ahead.Start(k, _p, writeFraction, n);
        for (long i = 0; i < n && !_p.Exited && !k.Stalled; i++)
        {
            _ahead.Announce();
            long page = (long)k.NextRandom((ulong)(_chunks.Count * ChunkPages));
            _chunks[(int)(page / ChunkPages)].Touch(k, _p, page % ChunkPages, writeFraction);
        }
    }

    private ulong AddressOf(long page) => _chunks[(int)(page / ChunkPages)].PageAddress(page % ChunkPages);

    private static long Swing(long fromPages, long toPages, long periodNs, bool repeat, long t)
    {
        if (periodNs <= 0) return toPages;
        if (!repeat) return t >= periodNs ? toPages : fromPages + (long)((double)(toPages - fromPages) * t / periodNs);
        double phase = (double)(t % periodNs) / periodNs;
        double share = phase < 0.5 ? phase * 2 : (1 - phase) * 2;
        return fromPages + (long)((toPages - fromPages) * share);
    }
}
