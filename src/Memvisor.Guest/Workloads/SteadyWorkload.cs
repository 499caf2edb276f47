using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;

namespace Memvisor.Guest.Workloads;

/// <summary>One process that writes its whole working set once, then touches it uniformly at a fixed rate.</summary>
public sealed class SteadyWorkload(long workingSetPages, double ratePerSecond, double writeFraction) : IWorkload
{
    private readonly List<Process> _processes = [];
    private Process? _p;
    private Region _region;
    private double _credit;
    private AccessForecast? _ahead;

    public string Kind => "steady";
    public IReadOnlyList<Process> Processes => _processes;

    public void Step(GuestKernel k, long nowNs, long dtNs)
    {
        if (_p is null)
        {
            _p = ProcessStart.Run(k, "steady", _processes);
            if (_p is null) return;
            _region = Region.Map(k, _p, workingSetPages);
            _region.Initialise(k, _p);
        }
        long n = k.TakeAccesses(ref _credit, ratePerSecond, dtNs);
        _ahead ??= new AccessForecast(f => _region.PageAddress((long)f.Stream.NextBelow((ulong)_region.Pages)));
        _ahead.Start(k, _p, writeFraction, n);
        for (long i = 0; i < n && !_p.Exited && !k.Stalled; i++)
        {
            _ahead.Announce();
            _region.Touch(k, _p, (long)k.NextRandom((ulong)_region.Pages), writeFraction);
        }
    }
}
