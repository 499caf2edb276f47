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
    private readonly MachineMemory _machine;
    private readonly Host _hv;
    private readonly XlToolstack _toolstack;
    private readonly BalloonMonitor _balloons;
    private readonly IPolicy? _policy;
    private readonly PolicyLog _policyLog = new();
    private readonly ReclaimLatency _reclaim = new();
    private readonly List<DomainRecord> _records = [];
    private readonly Timeseries _series;
    private readonly List<(string Name, Func<SampleView, long?> Read)> _columns;
    private readonly CostModel _costs = new();
    private long _freeMin;
    private readonly WallSplit _wall = new();
    private readonly CreateQueue _creates;
    private bool _accountingHeld = true;
    private long _peakP2mBytes;
    private double _scrubCredit;
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
        _machine = new MachineMemory(PageSize.FromBytes(scenario.Host.MemoryBytes), scenario.Host.NumaNodes);
        _hv = new Host(_machine, _costs, () => _clock.NowNs, scenario.Host.Overcommit with { Activity = scenario.Policy?.Activity ?? new() });
        _toolstack = new XlToolstack(_hv, _costs, _seed) { Link = scenario.Host.Link };
        _balloons = new BalloonMonitor(_hv);
        _policy = scenario.Policy is { } ps ? PolicyFactory.Create(ps) : null;
        _snapshots = keepSnapshots ? new Decimated<HostSnapshot>(Timeseries.DefaultMaxRows) : null;
        // A guest keeps a miss-ratio curve (2.3 MiB and a reference's worth of work per access for a 1 GiB guest) only for a reader.
        _toolstack.TrackMissRatio = keepSnapshots || _policy is { ReadsMissCurves: true };
        _toolstack.ForecastAccesses = ScenarioChecks.AccessForecastPays(scenario);
        _decisionNs = _policy?.IntervalNs ?? new PolicySpec().IntervalNs;

        _records.Add(new DomainRecord(ScenarioLoader.Dom0Name, null, 0));
        _creates = new CreateQueue(_toolstack, _machine, _records[0]);
        foreach (var (spec, name) in scenario.Instances())
            _records.Add(new DomainRecord(name, spec, _records.Count));
        _columns = Columns();
        _series = new Timeseries(_columns.Select(c => c.Name).ToList());
        _freeMin = _machine.FreeFrames;
    }

    public Host Host => _hv;

    /// <summary>
    /// Runs to the end; <paramref name="progress"/> receives the share of simulated time done, from 0 to 1. A cancelled
    /// <paramref name="cancel"/> stops the run between two events with <see cref="OperationCanceledException"/>.
    /// </summary>
    public RunResult Run(Action<double>? progress = null, CancellationToken cancel = default)
    {
        try
        {
            return RunToEnd(progress, cancel);
        }
        finally
        {
            // Closes (and removes, if temporary) the hypervisor's swap file, and removes the run's save images.
            _hv.Dispose();
            _toolstack.Dispose();
            _lanes.Dispose();
        }
    }

    private RunResult RunToEnd(Action<double>? progress, CancellationToken cancel)
    {
        BuildDom0();
        foreach (var r in _records.Where(r => r.Spec is { Autostart: true }))
            _creates.Start(r, 0);
        Observe();

        for (int i = 0; i < _scenario.Events.Count; i++)
            _clock.Schedule(_scenario.Events[i].AtNs, new SimEvent(EventKind.Action, i));
        _clock.Schedule(0, new SimEvent(EventKind.Sample, 0));
        _clock.Schedule(_scenario.TickNs, new SimEvent(EventKind.Tick, 0));
        if (_policy is not null || _snapshots is not null) _clock.Schedule(_decisionNs, new SimEvent(EventKind.Policy, 0));

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
        _toolstack.FinishSaves(_records, _clock.NowNs);
        return Result();
    }

    private void BuildDom0()
    {
        var dom0 = _records[0];
        var config = new DomainConfig
        {
            Name = dom0.Name,
            MemoryPages = PageSize.FromBytes(_scenario.Host.Dom0Bytes),
            MaxPages = PageSize.FromBytes(_scenario.Host.Dom0Bytes),
            MinPages = PageSize.FromBytes(_scenario.Host.Dom0MinBytes),
            IsDom0 = true,
            PreferredNode = 0,
            // Xen's mem_sharing works on guest domains only; dom0's pages are never shared.
            Sharing = false,
        };
        if (_hv.CreateDomain(config, out var d) != XenErrno.Ok || d is null)
            throw new InvalidOperationException($"dom0 ({PageSize.ToMiB(config.MemoryPages)}MiB) could not be built; the scenario check should have refused this host.");
        dom0.Domain = d;
        dom0.State = DomainState.Running;
        dom0.CreatedAtNs = 0;
        dom0.Guest = new GuestKernel(dom0.Name, _hv.PortFor(d), new IdleWorkload(), new GuestOptions { RandomStream = 0, TrackMissRatio = false }, _costs, _seed, onDemand: false);
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
        _hv.Step(dt);
        _toolstack.StepMigrations(dt);
        _wall.Hypervisor(t);
        _creates.Step(now);
        // xl.cfg's on_crash defaults to destroy: a domain the hypervisor crashed is torn down once its tick ends.
        foreach (var r in _records)
            if (r.State == DomainState.Running && r.Domain!.IsCrashed && _toolstack.Destroy(r, now)) r.State = DomainState.Crashed;
        _balloons.Step(now, _records);
        _reclaim.Observe(now, _records);
        _scrubCredit += _costs.IdleScrubPagesPerSecond * dt / 1e9;
        long budget = (long)_scrubCredit;
        _scrubCredit -= budget;
        _machine.Scrubber.Step(budget);
    }

    private void Observe()
    {
        _freeMin = Math.Min(_freeMin, _machine.FreeFrames);
        if (!_hv.Account().AddsUp) _accountingHeld = false;
    }

    // The time series: host figures, then per domain its tot_pages, its guest's meminfo and the working set of each
    // replayed trace; a value is blank while the domain is not running.
    private List<(string Name, Func<SampleView, long?> Read)> Columns()
    {
        var columns = new List<(string, Func<SampleView, long?>)>
        {
            ("host_free_pages", v => v.Host.FreeFrames),
            ("host_scrub_pending_pages", v => v.Host.ScrubPendingFrames),
            ("host_hypervisor_pages", v => v.Host.HypervisorFrames),
            ("host_shared_pages", v => v.Host.SharedFrames),
            ("host_compression_pages", v => v.Host.CompressionFrames),
            ("host_tmem_pages", v => v.Host.TmemFrames),
            ("sharing_saved_pages", _ => _hv.Sharing.SavedPages),
            ("paging_swapped_pages", _ => _hv.Paging.SwapSlotsUsed),
            ("tmem_held_pages", _ => _hv.Tmem.Pages),
            // The guests' vCPU time spent waiting on memory so far, summed (ms).
            ("guests_stall_ms", _ => (long)(_records.Sum(r => r.Guest?.Stats.StallNs ?? 0) / 1e6)),
        };
        foreach (var r in _records)
        {
            columns.Add(($"{r.Name}_tot_pages", _ => r.State == DomainState.Running ? r.Domain!.TotPages : null));
            columns.Add(($"{r.Name}_target_pages", _ => r.State == DomainState.Running ? r.Domain!.TargetPages : null));
            columns.Add(($"{r.Name}_shared_gfns", _ => r.State == DomainState.Running ? r.Domain!.P2m.SharedEntries : null));
            columns.Add(($"{r.Name}_paged_out_gfns", _ => r.State == DomainState.Running ? r.Domain!.P2m.PagedOutEntries + r.Domain!.P2m.CompressedEntries : null));
            if (r.Spec is null) continue;
            // The hypervisor's sampled working-set estimate (ESX's), in pages.
            columns.Add(($"{r.Name}_active_pages", _ => r.State == DomainState.Running ? r.Domain!.ActivePages : null));
            columns.Add(($"{r.Name}_mem_free_pages", v => v.Guests[r.Column]?.MemFree));
            columns.Add(($"{r.Name}_cached_pages", v => v.Guests[r.Column]?.Cached));
            columns.Add(($"{r.Name}_anon_pages", v => v.Guests[r.Column]?.AnonPages));
            columns.Add(($"{r.Name}_swap_used_pages", v => v.Guests[r.Column] is { } m ? m.SwapTotal - m.SwapFree : null));
            foreach (var process in TraceProcessNames(r.Spec.Workload))
                columns.Add(($"{r.Name}.{process}_wss_pages", _ => r.State == DomainState.Running
                    ? r.Guest!.Workload.Processes.FirstOrDefault(p => p.Name == process && !p.Exited)?.WorkingSetPages
                    : null));
        }
        return columns;
    }

    // What one sample reads: host accounting and each running guest's meminfo, each computed once.
    private readonly record struct SampleView(HostAccounting Host, MemInfo?[] Guests);

    private static IEnumerable<string> TraceProcessNames(WorkloadSpec w) => w.Kind switch
    {
        "trace" => [w.ProcessName ?? Path.GetFileNameWithoutExtension(w.TracePath!)],
        "mix" => w.Parts.SelectMany(TraceProcessNames),
        _ => [],
    };

    private void Sample(bool last = false)
    {
        var guests = new MemInfo?[_records.Count];
        foreach (var r in _records)
            if (r.State == DomainState.Running) guests[r.Column] = r.Guest!.MemInfo();
        var view = new SampleView(_hv.Account(), guests);
        var values = new long?[_columns.Count];
        for (int i = 0; i < values.Length; i++) values[i] = _columns[i].Read(view);
        long p2m = 0;
        foreach (var r in _records)
            if (r.State == DomainState.Running) p2m += r.Domain!.P2m.SizeInBytes;
        _peakP2mBytes = Math.Max(_peakP2mBytes, p2m);
        _series.Add(_clock.NowNs, values, last);
    }

    private MechanismsSummary Mechanisms()
    {
        var sh = _hv.Sharing.Stats;
        var pg = _hv.Paging.Stats;
        var cz = _hv.Paging.Compression;
        var tm = _hv.Tmem.Stats;
        var guests = _records.Where(r => r.Guest is not null).Select(r => r.Guest!.Stats).ToList();
        return new MechanismsSummary(
            new BalloonSummary(guests.Sum(g => g.PagesGivenBack), guests.Sum(g => g.PagesTakenBack), _balloons.StuckEvents, _balloons.UncooperativeEvents,
                guests.Sum(g => g.SelfBalloonAdjustments)),
            new SharingSummary(sh.PagesShared, sh.PagesSharing, sh.PagesUnshared, sh.ZeroPages, _hv.Sharing.SavedPages, sh.PagesScanned, sh.CowBreaks, sh.FullScans, sh.LargePageSkips),
            new PagingSummary(pg.PagedOut, pg.PagedIn, pg.SwapWrites, pg.SwapReads, pg.ZeroDropped, pg.EmergencyEvictions,
                pg.SmartPagingEvictions, pg.SwapFileFull, pg.WriteErrors, pg.ReadErrors, pg.ChecksumErrors, pg.UnreadablePages, _hv.Paging.StopReason),
            new CompressionSummary(cz.PagesCompressed, cz.PagesDecompressed, cz.Incompressible, cz.EvictedToSwap,
                // Over every page compressed: its 4 KiB less what it compressed to.
                cz.PagesCompressed * PageSize.Bytes - cz.CompressedBytesTotal,
                cz.CompressedBytesTotal == 0 ? 0 : Math.Round((double)cz.PagesCompressed * PageSize.Bytes / cz.CompressedBytesTotal, 3)),
            new TmemSummary(tm.Puts, tm.Gets, tm.GetMisses, tm.PutsRefused, tm.EphemeralEvicted, _hv.Tmem.Pages),
            new FreePageReportingSummary(_records.Sum(r => r.Domain?.Stats.PagesReported ?? 0)),
            new HotplugSummary(guests.Sum(g => g.HotplugPagesAdded), guests.Sum(g => g.HotplugPagesRemoved), guests.Sum(g => g.PagesMigrated),
                guests.Sum(g => g.HotplugOfflineFailures)));
    }

    // summary.json's host: the host's memory at the end, its low point and its heap, read once when the run ends.
    private HostSummary HostFigures(HostAccounting end)
    {
        long frames = _machine.TotalFrames, free = _machine.FreeFrames;
        long unusable = _machine.Nodes.Sum(n => n.FreePagesBelowOrder(9));
        // What the host promised: maxmem summed over the guests the run created (dom0 excluded).
        long configured = _records.Where(r => r.Spec is not null && r.State != DomainState.NotCreated).Sum(r => r.MaxPages);
        return new HostSummary
        {
            Hypervisor = _hv.Personality.Name,
            Frames = frames,
            MemoryKib = PageSize.ToKiB(frames),
            NumaNodes = _scenario.Host.NumaNodes,
            FreePagesEnd = end.FreeFrames,
            FreePagesMin = _freeMin,
            ScrubPendingPagesEnd = end.ScrubPendingFrames,
            Dom0Pages = _records[0].Domain!.TotPages,
            HypervisorPagesEnd = end.HypervisorFrames,
            HypervisorBootPages = _hv.BootPages,
            OwnedPagesEnd = end.OwnedFrames,
            SharedPagesEnd = end.SharedFrames,
            CompressionPagesEnd = end.CompressionFrames,
            TmemPagesEnd = end.TmemFrames,
            ConfiguredGuestPages = configured,
            OvercommitRatio = frames == 0 ? 0 : Math.Round((double)configured / frames, 3),
            ScrubbedIdle = _machine.Scrubber.ScrubbedIdle,
            ScrubbedOnAllocation = _machine.Scrubber.ScrubbedOnAllocation,
            LargestFreeOrder = _machine.Nodes.Max(n => n.LargestFreeOrder()),
            UnusableFreeIndexOrder9 = Math.Round(free == 0 ? 0 : (double)unusable / free, 6),
            AccountingHeld = _accountingHeld,
        };
    }

    private RunResult Result()
    {
        long heapLinks = _machine.Nodes.Sum(n => n.PeakLinkBytes);
        var end = _hv.Account();
        var result = new RunResult
        {
            Wall = _wall.WithScanner(_hv.Sharing.WallTicks).WithLanes(_lanes),
            Scenario = _scenario,
            Seed = _seed,
            Frames = _machine.TotalFrames,
            FreePagesMin = _freeMin,
            End = end,
            AccountingHeld = _accountingHeld,
            Host = HostFigures(end),
            Domains = _records,
            Errors = _hv.Refusals.Kept,
            ErrorsTotal = _hv.Refusals.Count,
            Timeseries = _series,
            EventsProcessed = _clock.Processed,
            Mechanisms = Mechanisms(),
            Policy = _policy is null ? null : _policyLog with { Name = _policy.Name, IntervalNs = _policy.IntervalNs },
            Reclaim = _reclaim,
            Snapshots = _snapshots?.Items ?? [],
            HostEvents = _hv.Events.Kept,
            HostEventsTotal = _hv.Events.Count,
            VerifiedReads = _records.Sum(r => r.Guest?.Integrity?.Checks ?? 0),
            IntegrityErrors = _records.Sum(r => r.Guest?.Integrity?.Violations ?? 0),
            PeakMetadata = new MetadataBytes(_machine.Frames.SizeInBytes, heapLinks, _hv.M2p.SizeInBytes, _peakP2mBytes, _machine.TotalFrames),
        };
        return result with { Summary = SummaryBuilder.From(result) };
    }
}
