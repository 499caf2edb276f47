using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;

namespace Memvisor.Guest.Workloads;

/// <summary>A phase of a <see cref="PhasesWorkload"/>: a working set of a size, for a while.</summary>
public sealed record Phase(long WorkingSetPages, long DurationNs);

/// <summary>
/// One process whose working set changes size and place: phase i touches a window of its size that starts at a
/// different place in one large mapping, uniformly; the phases repeat. Pages of past windows go cold and become
/// reclaimable.
/// </summary>
public sealed class PhasesWorkload(IReadOnlyList<Phase> phases, double ratePerSecond, double writeFraction) : IWorkload
{
    private readonly List<Process> _processes = [];
    private readonly long _maxSet = phases.Max(p => p.WorkingSetPages);
    private readonly long _cycleNs = phases.Sum(p => p.DurationNs);
    private Process? _p;
    private Region _region;
    private double _credit;
    private (long Offset, long Size) _window;
    private AccessForecast? _ahead;

    public string Kind => "phases";
    public IReadOnlyList<Process> Processes => _processes;

    public void Step(GuestKernel k, long nowNs, long dtNs)
    {
        if (_p is null)
        {
            _p = ProcessStart.Run(k, "phases", _processes);
            if (_p is null) return;
            _region = Region.Map(k, _p, _maxSet * 2);
        }
        long t = _cycleNs <= 0 ? 0 : nowNs % _cycleNs;
        int i = 0;
        while (i < phases.Count - 1 && t >= phases[i].DurationNs) t -= phases[i++].DurationNs;
        long size = Math.Max(1, phases[i].WorkingSetPages);
        // Each phase's window starts half the largest set further on, wrapping within the mapping.
        long offset = (long)i * _maxSet / 2 % Math.Max(1, _region.Pages - size + 1);
        long n = k.TakeAccesses(ref _credit, ratePerSecond, dtNs);
        _window = (offset, size);
        _ahead ??= new AccessForecast(f => _region.PageAddress(_window.Offset + (long)f.Stream.NextBelow((ulong)_window.Size)));
        _ahead.Start(k, _p, writeFraction, n);
        for (long a = 0; a < n && !_p.Exited && !k.Stalled; a++)
        {
            _ahead.Announce();
            _region.Touch(k, _p, offset + (long)k.NextRandom((ulong)size), writeFraction);
        }
    }
}
