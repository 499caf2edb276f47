using Memvisor.Machine.Frames;
using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;
using Memvisor.Guest.Workloads.Trace;

namespace Memvisor.Guest.Workloads;

/// <summary>
/// Replays a memory trace as one process: each record is an access at its virtual address, mapped into the
/// process on first touch (2 MiB anonymous regions), so the guest sees the program's real footprint and locality.
/// Speed 1.0 replays 100 million records per simulated second; the trace can loop. The process samples its
/// working set (pages touched per window) from the page tables' accessed bits.
/// </summary>
public sealed class TraceWorkload(string name, Func<ITraceReader> open, double speed, bool loop, long windowNs) : IWorkload
{
    public const double RecordsPerSecondAtSpeed1 = 100_000_000;

    private readonly List<Process> _processes = [];
    private readonly TraceRecord[] _buffer = new TraceRecord[4096];
    private ITraceReader? _reader;
    private Process? _p;
    private int _pos, _len;
    private double _credit;
    private bool _done;

    public string Kind => "trace";
    public IReadOnlyList<Process> Processes => _processes;
    /// <summary>Times the trace was replayed to its end.</summary>
    public long Passes { get; private set; }

    public void Step(GuestKernel k, long nowNs, long dtNs)
    {
        if (_done) return;
        if (_p is null)
        {
            _p = k.Spawn(name);
            if (_p is null) return;
            _p.MapsOnDemand = true;
            _p.WorkingSetWindowNs = windowNs;
            _p.NextWorkingSetSampleNs = nowNs + windowNs;
            _processes.Add(_p);
            _reader = open();
        }
        long n = k.TakeAccesses(ref _credit, RecordsPerSecondAtSpeed1 * speed, dtNs);
        var p = _p;
        ref var stats = ref p.Counters;
        for (long i = 0; i < n; i++)
        {
            if (_pos == _len && !Refill(k)) return;
            if (p.Exited || k.Stalled) break;
            ref readonly var r = ref _buffer[_pos++];
            bool write = r.Kind >= AccessKind.Store;
            switch (r.Kind)
            {
                case AccessKind.Instruction: stats.Instructions++; break;
                case AccessKind.Load: stats.Loads++; break;
                case AccessKind.Store: stats.Stores++; break;
                default: stats.Modifies++; break;
            }
            k.Access(p, r.Address, write);
            if (r.LastPage != r.Address >> PageSize.Shift) k.Access(p, r.LastPage << PageSize.Shift, write);
        }
    }

    private bool Refill(GuestKernel k)
    {
        _pos = 0;
        _len = _reader!.Read(_buffer);
        if (_len > 0) return true;
        Passes++;
        if (loop && Passes < long.MaxValue)
        {
            _reader.Rewind();
            _len = _reader.Read(_buffer);
            if (_len > 0) return true;
        }
        _done = true;
        _reader.Dispose();
        k.Exit(_p!);
        return false;
    }
}
