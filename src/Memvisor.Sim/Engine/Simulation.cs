using Memvisor.Guest.Kernel;
using Memvisor.Guest.Workloads;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Machine;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Lanes;
using Memvisor.Machine.Time;
using Memvisor.Policy;
using Memvisor.Policy.Snapshot;
using Memvisor.Sim.Metrics;
using Memvisor.Sim.Summary;
using Memvisor.Sim.Policies;
using Memvisor.Sim.Scenarios;
using Memvisor.Sim.Toolstack;
using Memvisor.Hypervisor;
using Memvisor.Seam;

namespace Memvisor.Sim.Engine;

/// <summary>
/// Runs a scenario: builds the host and dom0, starts the domains, then advances the discrete-event clock through
/// guest ticks, idle scrubbing, samples and the toolstack timeline until the scenario's duration.
/// </summary>
public sealed partial class Simulation
{
    private readonly Scenario _scenario;
    private readonly ulong _seed;
    private readonly EventQueue _clock = new();
    // The scenario's hosts, the first one first; a domain runs on the one its record names.
    private readonly List<HostRuntime> _hosts = [];
    private readonly PolicyLog _policyLog = new();
    private readonly ReclaimLatency _reclaim = new();
    private readonly List<DomainRecord> _records = [];
    private readonly Timeseries _series;
    private readonly List<(string Name, Func<SampleView, long?> Read)> _columns;
    private readonly CostModel _costs = new();
    private readonly WallSplit _wall = new();
    private readonly Evacuations _evacuations = new();
    private readonly Balancer? _balancer;
    private long _peakP2mBytes;
    // The guests of a tick step on lanes (see Turn): same answer on any number of threads.
    private readonly TickLanes _lanes;
    private readonly List<DomainRecord> _stepping = [];
    private readonly Action<int> _stepOne;
    private long _stepNow, _stepDt;

    // run --snapshots: every decision's snapshot, at most 8192 of them (evenly spaced) however long the run.
    private readonly Decimated<HostSnapshot>? _snapshots;
    private readonly long _decisionNs;

    /// <param name="keepSnapshots">Keep the snapshot of every policy decision (every 10 s when the scenario runs no policy) for <c>run --snapshots</c>.</param>
    /// <param name="threads">How many guests step at once (<c>--threads</c>); the results do not depend on it.</param>
    public Simulation(Scenario scenario, ulong? seedOverride = null, bool keepSnapshots = false, int threads = 1)
    {
        _lanes = new TickLanes(threads);
        _stepOne = i => _stepping[i].Guest!.Step(_stepNow, _stepDt);
        _scenario = scenario;
        _seed = seedOverride ?? scenario.Seed;
        _costs.Apply(scenario.Costs);
        _snapshots = keepSnapshots ? new Decimated<HostSnapshot>(Timeseries.DefaultMaxRows) : null;
        _decisionNs = scenario.Policy?.IntervalNs ?? new PolicySpec().IntervalNs;

        // Records: the first host's dom0, the guests in scenario order, then the other hosts' dom0s (Domain-0@NAME).
        var hosts = scenario.Hosts;
        _records.Add(new DomainRecord(ScenarioLoader.Dom0Name, null, 0));
        foreach (var (spec, name) in scenario.Instances())
            _records.Add(new DomainRecord(name, spec, _records.Count) { HostIndex = scenario.HostIndex(spec.Host) });
        for (int i = 0; i < hosts.Count; i++)
        {
            var dom0 = i == 0 ? _records[0] : new DomainRecord($"{ScenarioLoader.Dom0Name}@{hosts[i].Name}", null, _records.Count) { HostIndex = i };
            if (i > 0) _records.Add(dom0);
            var h = new HostRuntime(i, hosts[i], scenario, _costs, () => _clock.NowNs, _seed, dom0);
            // A guest keeps a miss-ratio curve (2.3 MiB and a reference's worth of work per access for a 1 GiB guest) only for a reader.
            h.Toolstack.TrackMissRatio = keepSnapshots || h.Policy is { ReadsMissCurves: true };
            h.Toolstack.ForecastAccesses = ScenarioChecks.AccessForecastPays(scenario);
            _hosts.Add(h);
        }
        _balancer = scenario.Balance is { } balance ? new Balancer(balance) : null;
        _columns = Columns();
        _series = new Timeseries(_columns.Select(c => c.Name).ToList());
    }

    /// <summary>The first host's hypervisor (the only one of a single-host scenario).</summary>
    public Host Host => _hosts[0].Hv;

    /// <summary>Every host's hypervisor, in the scenario's order.</summary>
    public IReadOnlyList<Host> Hosts => [.. _hosts.Select(h => h.Hv)];

    /// <summary>
    /// Runs to the end; <paramref name="progress"/> receives the share of simulated time done, from 0 to 1. A cancelled
    /// <paramref name="cancel"/> stops the run between two events with <see cref="OperationCanceledException"/>.
    /// </summary>
    public RunResult Run(Action<double>? progress = null, CancellationToken cancel = default)
    {
        // A decision waiting on an external policy's program stops with the run.
        foreach (var h in _hosts)
            if (h.Policy is Policies.ExternalPolicy external) external.Cancellation = cancel;
        try
        {
            return RunToEnd(progress, cancel);
        }
        finally
        {
            // Closes (and removes, if temporary) the hypervisors' swap files, and removes the run's save images.
            foreach (var h in _hosts)
            {
                h.Hv.Dispose();
                h.Toolstack.Dispose();
                // An external policy's program ends with the run.
                (h.Policy as IDisposable)?.Dispose();
            }
            _lanes.Dispose();
        }
    }

    private RunResult RunToEnd(Action<double>? progress, CancellationToken cancel)
    {
        foreach (var h in _hosts) BuildDom0(h);
        foreach (var r in _records.Where(r => r.Spec is { Autostart: true }))
            _hosts[r.HostIndex].Creates.Start(r, 0);
        Observe();

        for (int i = 0; i < _scenario.Events.Count; i++)
            _clock.Schedule(_scenario.Events[i].AtNs, new SimEvent(EventKind.Action, i));
        _clock.Schedule(0, new SimEvent(EventKind.Sample, 0));
        _clock.Schedule(_scenario.TickNs, new SimEvent(EventKind.Tick, 0));
        if (_hosts[0].Policy is not null || _snapshots is not null) _clock.Schedule(_decisionNs, new SimEvent(EventKind.Policy, 0));

        long end = _scenario.DurationNs;
        double lastReported = -1;
        while (_clock.TryNext(end, out var e))
        {
            cancel.ThrowIfCancellationRequested();
            long started = WallSplit.Now();
            switch (e.Kind)
            {
                case EventKind.Tick:
                    Tick();
                    if (_clock.NowNs + _scenario.TickNs <= end) _clock.Schedule(_clock.NowNs + _scenario.TickNs, e);
                    break;
                case EventKind.Sample:
                    Sample();
                    if (_clock.NowNs + _scenario.SampleNs <= end) _clock.Schedule(_clock.NowNs + _scenario.SampleNs, e);
                    break;
                case EventKind.Action:
                    Apply(_scenario.Events[e.Index]);
                    break;
                case EventKind.Policy:
                    Decide();
                    if (_clock.NowNs + _decisionNs <= end) _clock.Schedule(_clock.NowNs + _decisionNs, e);
                    break;
            }
            long observed = _wall.After(e.Kind, started);
            Observe();
            _wall.Metrics(observed);
            double done = (double)_clock.NowNs / end;
            if (progress is not null && done - lastReported >= 0.01)
            {
                progress(done);
                lastReported = done;
            }
        }
        if (_series.Rows.Count == 0 || _series.Rows[^1].TimeNs != _clock.NowNs) Sample(last: true);
        progress?.Invoke(1.0);
        foreach (var h in _hosts) h.Toolstack.FinishSaves(_records.Where(r => r.HostIndex == h.Index), _clock.NowNs);
        return Result();
    }

    private void BuildDom0(HostRuntime h)
    {
        var dom0 = h.Dom0;
        var config = new DomainConfig
        {
            Name = dom0.Name,
            MemoryPages = PageSize.FromBytes(h.Spec.Dom0Bytes),
            MaxPages = PageSize.FromBytes(h.Spec.Dom0Bytes),
            MinPages = PageSize.FromBytes(h.Spec.Dom0MinBytes),
            IsDom0 = true,
            PreferredNode = 0,
            // Xen's mem_sharing works on guest domains only; dom0's pages are never shared.
            Sharing = false,
        };
        if (h.Hv.CreateDomain(config, out var d) != XenErrno.Ok || d is null)
            throw new InvalidOperationException($"dom0 ({PageSize.ToMiB(config.MemoryPages)}MiB) could not be built on {h.Name}; the scenario check should have refused this host.");
        dom0.Domain = d;
        dom0.State = DomainState.Running;
        dom0.CreatedAtNs = 0;
        dom0.Guest = new GuestKernel(dom0.Name, h.Hv.PortFor(d), new IdleWorkload(), new GuestOptions { RandomStream = (ulong)dom0.Column, TrackMissRatio = false }, _costs, _seed, onDemand: false);
        dom0.Guest.Boot();
    }

    private void Tick()
    {
        long now = _clock.NowNs, dt = _scenario.TickNs;
        long t = WallSplit.Now();
        _stepping.Clear();
        foreach (var r in _records)
            if (r.State == DomainState.Running) _stepping.Add(r);
        (_stepNow, _stepDt) = (now, dt);
        _lanes.Run(_stepping.Count, _stepOne);
        _wall.Guests(t);
        t = WallSplit.Now();
        foreach (var h in _hosts) h.Hv.Step(dt);
        foreach (var h in _hosts) h.Toolstack.StepMigrations(dt);
        _wall.Hypervisor(t);
        foreach (var h in _hosts) h.Creates.Step(now);
        _evacuations.Step(now, _hosts, _records);
        _balancer?.Step(now, _hosts, _records, _evacuations.Running || _hosts.Exists(h => h.Creates.Migrating));
        // xl.cfg's on_crash defaults to destroy: a domain the hypervisor crashed is torn down once its tick ends.
        foreach (var r in _records)
            if (r.State == DomainState.Running && r.Domain!.IsCrashed && _hosts[r.HostIndex].Toolstack.Destroy(r, now)) r.State = DomainState.Crashed;
        foreach (var h in _hosts) h.Balloons.Step(now, OnHost(h));
        _reclaim.Observe(now, _records);
        foreach (var h in _hosts)
        {
            h.ScrubCredit += _costs.IdleScrubPagesPerSecond * dt / 1e9;
            long budget = (long)h.ScrubCredit;
            h.ScrubCredit -= budget;
            h.Machine.Scrubber.Step(budget);
        }
    }

    // The records of the domains on a host now (dom0 first); every record when there is one host.
    private List<DomainRecord> OnHost(HostRuntime h) => _hosts.Count == 1 ? _records : _records.FindAll(r => r.HostIndex == h.Index);

    private void Observe()
    {
        foreach (var h in _hosts)
        {
            h.FreeMin = Math.Min(h.FreeMin, h.Machine.FreeFrames);
            if (!h.Hv.Account().AddsUp) h.AccountingHeld = false;
        }
    }
}
