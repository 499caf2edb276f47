using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;

namespace Memvisor.Guest.Workloads;

/// <summary>
/// Short-lived programs (a build, a CGI server): new processes start at a rate, each runs its C library start-up,
/// writes a private heap of the working-set size, touches it at the rate while it lives, and exits after its lifetime.
/// The live processes share each step's accesses in turn, as a scheduler's time slices do (a context switch each).
/// </summary>
public sealed class ForkExecWorkload(double spawnsPerSecond, long lifetimeNs, long heapPages, double ratePerSecond, double writeFraction) : IWorkload
{
    private const int KeptEnded = 64;
    private readonly List<(Process P, Region Heap, long EndNs)> _live = [];
    private readonly List<Process> _processes = [];
    private double _spawnCredit;
    private double _credit;
    private long _started;
    private int _turn;

    public string Kind => "fork-exec";
    /// <summary>Live processes and the most recent ended ones (a long run starts too many to list them all).</summary>
    public IReadOnlyList<Process> Processes => _processes;

    public void Step(GuestKernel k, long nowNs, long dtNs)
    {
        for (int i = _live.Count - 1; i >= 0; i--)
        {
            if (_live[i].EndNs > nowNs && !_live[i].P.Exited) continue;
            k.Exit(_live[i].P);
            _live.RemoveAt(i);
        }
        _spawnCredit += spawnsPerSecond * dtNs / 1e9;
        while (_spawnCredit >= 1)
        {
            _spawnCredit -= 1;
            var p = ProcessStart.Run(k, $"job-{++_started}", _processes);
            if (p is null) break;
            var heap = Region.Map(k, p, heapPages);
            heap.Initialise(k, p);
            _live.Add((p, heap, nowNs + lifetimeNs));
            if (_processes.Count > KeptEnded) _processes.RemoveAll(q => q.Exited && _processes.Count > KeptEnded);
        }
        if (_live.Count == 0) return;
        long n = k.TakeAccesses(ref _credit, ratePerSecond, dtNs);
        int live = _live.Count;
        _turn++;
        for (int j = 0; j < live && !k.Stalled; j++)
        {
            var (p, heap, _) = _live[(_turn + j) % live];
            long slice = n / live + (j < n % live ? 1 : 0);
            for (long i = 0; i < slice && !p.Exited && !k.Stalled; i++)
                heap.Touch(k, p, (long)k.NextRandom((ulong)heap.Pages), writeFraction);
        }
    }
}
