using System.Diagnostics;
using Memvisor.Daemon.Host;
using Memvisor.Daemon.Metrics;
using Memvisor.Daemon.Vms;
using Memvisor.Policy;
using Memvisor.Policy.Snapshot;

namespace Memvisor.Daemon.Control;

/// <summary>
/// The policy daemon on a real host: at every interval it reads each VM and the host, builds the snapshot the
/// simulator would give the policy, lets the policy decide, and carries out its actions within the safety rules,
/// logging each. It never resets what it set: stopped, it leaves every VM as it was asked last.
/// </summary>
public sealed class HostDaemon
{
    private readonly List<VmState> _vms;
    private readonly IPolicy _policy;
    private readonly DecisionLog _log;
    private readonly Func<MemInfo?> _hostMemory;
    private readonly Ksm? _ksm;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly VmReads _reads;
    private readonly ActionCarrier _carrier;

    public HostDaemon(IReadOnlyList<IVm> vms, IPolicy policy, DaemonOptions options, DecisionLog log, Func<MemInfo?> hostMemory, Ksm? ksm = null, DaemonMetrics? metrics = null)
    {
        _vms = [.. vms.Select(v => new VmState(v))];
        _policy = policy;
        Options = options;
        _log = log;
        _hostMemory = hostMemory;
        _ksm = ksm;
        Metrics = metrics ?? new DaemonMetrics();
        _reads = new VmReads(_vms, log);
        _carrier = new ActionCarrier(_vms, _reads, ksm, log);
    }

    /// <summary>The options in force; a new budget or floor takes effect at the next step.</summary>
    public DaemonOptions Options { get; set; }
    public DaemonMetrics Metrics { get; }
    public IReadOnlyList<VmState> Vms => _vms;
    public long Steps { get; private set; }

    /// <summary>After each step: its time in seconds from the daemon's start, the VMs as read, and what became of the policy's actions.</summary>
    public event Action<double, IReadOnlyList<VmState>, IReadOnlyList<ActionOutcome>>? Stepped;

    /// <summary>Steps every interval until <paramref name="stop"/> is cancelled (or <paramref name="maxSteps"/> are done), then logs the stop.</summary>
    public void Run(CancellationToken stop, long maxSteps = long.MaxValue)
    {
        _log.Start(_policy.Name, Options, _vms);
        var next = _clock.Elapsed;
        while (!stop.IsCancellationRequested && Steps < maxSteps)
        {
            Step(stop);
            if (Steps >= maxSteps) break;
            next += Options.Interval;
            var wait = next - _clock.Elapsed;
            if (wait < TimeSpan.Zero) next = _clock.Elapsed;
            else if (stop.WaitHandle.WaitOne(wait)) break;
        }
        _log.Stop(stop.IsCancellationRequested ? "signal" : "steps done", Steps);
    }

    /// <summary>One interval's work: read, decide, act, log. Returns what became of the actions; <paramref name="stop"/> ends it early, acting on nothing more.</summary>
    public IReadOnlyList<ActionOutcome> Step(CancellationToken stop = default)
    {
        var started = _clock.Elapsed;
        Steps++;
        if (!_reads.ReadAll(Options, stop)) return [];
        var ksm = Options.ControlKsm ? _ksm?.Read() : null;
        MemInfo? host = null;
        if (Options.HostMemoryBytes is null)
        {
            try
            {
                host = _hostMemory();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                // A snapshot without the host's memory would read as a host with none free: no decision this step.
                _log.Error($"The host's memory could not be read, so the policy decides nothing this step: {e.Message}");
                return [];
            }
        }
        var snapshot = SnapshotBuilder.Build(_vms, host, ksm, Options, (long)_clock.Elapsed.TotalNanoseconds);
        _log.Step(Steps, snapshot, _vms);
        IReadOnlyList<PolicyAction> actions;
        try
        {
            actions = snapshot.Domains.Count == 0 ? [] : _policy.Decide(snapshot);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A policy that fails (an external program that crashed) decides nothing this step; the VMs stay as they are.
            _log.Error($"The policy {_policy.Name} failed and decided nothing this step: {e.Message}");
            actions = [];
        }
        var outcomes = new List<ActionOutcome>();
        foreach (var a in actions)
        {
            if (stop.IsCancellationRequested) break;
            outcomes.Add(_carrier.Carry(a, Options));
        }
        if (!stop.IsCancellationRequested) outcomes.AddRange(_carrier.RaiseToFloors(outcomes, Options).ToList());
        foreach (var o in outcomes) _log.Action(o);
        Metrics.Record(snapshot, _vms, ksm, outcomes, (_clock.Elapsed - started).TotalSeconds);
        Stepped?.Invoke(started.TotalSeconds, _vms, outcomes);
        return outcomes;
    }
}
