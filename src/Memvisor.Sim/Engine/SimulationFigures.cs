using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Guest.Workloads;
using Memvisor.Guest.Kernel;
using Memvisor.Machine.Frames;
using Memvisor.Sim.Summary;

namespace Memvisor.Sim.Engine;

// What a run reports: the time series' columns and samples, and the figures read when it ends (summed over the
// hosts where a scenario has several; the host object is the first host's, and each host's is in hosts).
public sealed partial class Simulation
{
    // The time series: host figures, then per domain its tot_pages, its guest's meminfo and the working set of each
    // replayed trace; a value is blank while the domain is not running. Hosts after the first prefix theirs (NAME.).
    private List<(string Name, Func<SampleView, long?> Read)> Columns()
    {
        var columns = new List<(string, Func<SampleView, long?>)>();
        foreach (var h in _hosts)
        {
            string p = h.Index == 0 ? "" : h.Name + ".";
            int i = h.Index;
            var hv = h.Hv;
            columns.Add(($"{p}host_free_pages", v => v.Hosts[i].FreeFrames));
            columns.Add(($"{p}host_scrub_pending_pages", v => v.Hosts[i].ScrubPendingFrames));
            columns.Add(($"{p}host_hypervisor_pages", v => v.Hosts[i].HypervisorFrames));
            columns.Add(($"{p}host_shared_pages", v => v.Hosts[i].SharedFrames));
            columns.Add(($"{p}host_compression_pages", v => v.Hosts[i].CompressionFrames));
            columns.Add(($"{p}host_tmem_pages", v => v.Hosts[i].TmemFrames));
            columns.Add(($"{p}sharing_saved_pages", _ => hv.Sharing.SavedPages));
            columns.Add(($"{p}paging_swapped_pages", _ => hv.Paging.SwapSlotsUsed));
            columns.Add(($"{p}tmem_held_pages", _ => hv.Tmem.Pages));
            // A tiered host: each memory node's free frames and the guest reads and writes it served so far.
            if (h.Machine.Tiers is not null)
            {
                // The host's totals are summed over its domains once per sample, not once per column.
                HostAccounting[]? stamp = null;
                Memvisor.Hypervisor.Tiers.NodeAccess? totals = null;
                Memvisor.Hypervisor.Tiers.NodeAccess Totals(SampleView v)
                {
                    if (!ReferenceEquals(stamp, v.Hosts)) (stamp, totals) = (v.Hosts, hv.NodeAccessTotals());
                    return totals!;
                }
                foreach (var heap in h.Machine.Nodes)
                {
                    int n = heap.Node;
                    columns.Add(($"{p}node{n}_free_pages", _ => heap.FreePages));
                    columns.Add(($"{p}node{n}_reads", v => Totals(v).Reads[n]));
                    columns.Add(($"{p}node{n}_writes", v => Totals(v).Writes[n]));
                }
            }
            if (i > 0) continue;
            // The guests' vCPU time spent waiting on memory so far, summed (ms).
            columns.Add(("guests_stall_ms", _ => (long)(_records.Sum(r => r.Guest?.Stats.StallNs ?? 0) / 1e6)));
        }
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

    // What one sample reads: each host's accounting and each running guest's meminfo, each computed once.
    private readonly record struct SampleView(HostAccounting[] Hosts, MemInfo?[] Guests);

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
        var view = new SampleView([.. _hosts.Select(h => h.Hv.Account())], guests);
        var values = new long?[_columns.Count];
        for (int i = 0; i < values.Length; i++) values[i] = _columns[i].Read(view);
        long p2m = 0;
        foreach (var r in _records)
            if (r.State == DomainState.Running) p2m += r.Domain!.P2m.SizeInBytes;
        _peakP2mBytes = Math.Max(_peakP2mBytes, p2m);
        _series.Add(_clock.NowNs, values, last);
    }

    private long Sum(Func<Host, long> figure) => _hosts.Sum(h => figure(h.Hv));

    private MechanismsSummary Mechanisms()
    {
        var guests = _records.Where(r => r.Guest is not null).Select(r => r.Guest!.Stats).ToList();
        long compressed = Sum(h => h.Paging.Compression.PagesCompressed), compressedBytes = Sum(h => h.Paging.Compression.CompressedBytesTotal);
        return new MechanismsSummary(
            new BalloonSummary(guests.Sum(g => g.PagesGivenBack), guests.Sum(g => g.PagesTakenBack), _hosts.Sum(h => h.Balloons.StuckEvents),
                _hosts.Sum(h => h.Balloons.UncooperativeEvents), guests.Sum(g => g.SelfBalloonAdjustments)),
            new SharingSummary(Sum(h => h.Sharing.Stats.PagesShared), Sum(h => h.Sharing.Stats.PagesSharing), Sum(h => h.Sharing.Stats.PagesUnshared),
                Sum(h => h.Sharing.Stats.ZeroPages), Sum(h => h.Sharing.SavedPages), Sum(h => h.Sharing.Stats.PagesScanned), Sum(h => h.Sharing.Stats.CowBreaks),
                Sum(h => h.Sharing.Stats.FullScans), Sum(h => h.Sharing.Stats.LargePageSkips)),
            new PagingSummary(Sum(h => h.Paging.Stats.PagedOut), Sum(h => h.Paging.Stats.PagedIn), Sum(h => h.Paging.Stats.SwapWrites), Sum(h => h.Paging.Stats.SwapReads),
                Sum(h => h.Paging.Stats.ZeroDropped), Sum(h => h.Paging.Stats.EmergencyEvictions), Sum(h => h.Paging.Stats.SmartPagingEvictions),
                Sum(h => h.Paging.Stats.SwapFileFull), Sum(h => h.Paging.Stats.WriteErrors), Sum(h => h.Paging.Stats.ReadErrors), Sum(h => h.Paging.Stats.ChecksumErrors),
                Sum(h => h.Paging.Stats.UnreadablePages), _hosts.Select(h => h.Hv.Paging.StopReason).FirstOrDefault(x => x is not null)),
            new CompressionSummary(compressed, Sum(h => h.Paging.Compression.PagesDecompressed), Sum(h => h.Paging.Compression.Incompressible),
                Sum(h => h.Paging.Compression.EvictedToSwap),
                // Over every page compressed: its 4 KiB less what it compressed to.
                compressed * PageSize.Bytes - compressedBytes,
                compressedBytes == 0 ? 0 : Math.Round((double)compressed * PageSize.Bytes / compressedBytes, 3)),
            new TmemSummary(Sum(h => h.Tmem.Stats.Puts), Sum(h => h.Tmem.Stats.Gets), Sum(h => h.Tmem.Stats.GetMisses), Sum(h => h.Tmem.Stats.PutsRefused),
                Sum(h => h.Tmem.Stats.EphemeralEvicted), Sum(h => h.Tmem.Pages)),
            new FreePageReportingSummary(_records.Sum(r => r.Domain?.Stats.PagesReported ?? 0)),
            new HotplugSummary(guests.Sum(g => g.HotplugPagesAdded), guests.Sum(g => g.HotplugPagesRemoved), guests.Sum(g => g.PagesMigrated),
                guests.Sum(g => g.HotplugOfflineFailures)))
        {
            Grants = Sum(h => h.Grants.Stats.TablesSetUp) == 0 ? null : new GrantsSummary(Sum(h => h.Grants.Stats.TablesSetUp), Sum(h => h.Grants.Stats.Maps),
                Sum(h => h.Grants.Stats.Unmaps), Sum(h => h.Grants.Stats.Copies), Sum(h => h.Grants.Stats.Transfers), Sum(h => h.Grants.Stats.Refused),
                _hosts.Max(h => h.Hv.Grants.Stats.PeakMapped), Sum(h => h.Grants.Mappings), Sum(h => h.Grants.TableFrames),
                _hosts.Sum(h => h.Toolstack.BlockBackend?.ForeignPages ?? 0)),
        };
    }

    // summary.json's host: a host's memory at the end, its low point and its heap, read once when the run ends. A
    // scenario with several hosts names each.
    private HostSummary HostFigures(HostRuntime h, HostAccounting end)
    {
        var machine = h.Machine;
        long frames = machine.TotalFrames, free = machine.FreeFrames;
        long unusable = machine.Nodes.Sum(n => n.FreePagesBelowOrder(9));
        // What the host promised: maxmem summed over the guests the run created (dom0 excluded) that are on it now.
        long configured = _records.Where(r => r.Spec is not null && r.State != DomainState.NotCreated && r.HostIndex == h.Index).Sum(r => r.MaxPages);
        var nodes = NodeFigures(h);
        return new HostSummary
        {
            Name = _hosts.Count > 1 ? h.Name : null,
            Hypervisor = h.Hv.Personality.Name,
            Frames = frames,
            MemoryKib = PageSize.ToKiB(frames),
            NumaNodes = h.Spec.NumaNodes,
            FreePagesEnd = end.FreeFrames,
            FreePagesMin = h.FreeMin,
            ScrubPendingPagesEnd = end.ScrubPendingFrames,
            Dom0Pages = h.Dom0.Domain!.TotPages,
            HypervisorPagesEnd = end.HypervisorFrames,
            HypervisorBootPages = h.Hv.BootPages,
            OwnedPagesEnd = end.OwnedFrames,
            SharedPagesEnd = end.SharedFrames,
            CompressionPagesEnd = end.CompressionFrames,
            TmemPagesEnd = end.TmemFrames,
            ConfiguredGuestPages = configured,
            OvercommitRatio = frames == 0 ? 0 : Math.Round((double)configured / frames, 3),
            ScrubbedIdle = machine.Scrubber.ScrubbedIdle,
            ScrubbedOnAllocation = machine.Scrubber.ScrubbedOnAllocation,
            LargestFreeOrder = machine.Nodes.Max(n => n.LargestFreeOrder()),
            UnusableFreeIndexOrder9 = Math.Round(free == 0 ? 0 : (double)unusable / free, 6),
            AccountingHeld = h.AccountingHeld,
            Nodes = nodes,
            Tiers = TierFigures(nodes),
            PageMigrations = h.Hv.PageMigrations is var pm && (h.Machine.Tiers is not null || pm.Migrated + pm.Refused > 0)
                ? new PageMigrationSummary(pm.Migrated, pm.Promoted, pm.Demoted, pm.Refused, pm.Shootdowns, Math.Round(pm.HypervisorNs / 1e6, 3)) : null,
            Tiering = h.Hv.Tiering.Options.Enabled && h.Hv.Tiering.Stats is var ts
                ? new TieringSummary(ts.Scans, ts.PagesScanned, ts.HotPagesLast, ts.ColdPagesLast, ts.Promoted, ts.WritePromoted, ts.TouchPromoted, ts.TouchRefused, ts.Demoted, Math.Round(ts.ScanNs / 1e6, 3))
                {
                    Pressure = h.Hv.Tiering.Options is { PressureTargetNs: > 0 } po
                        ? new TieringPressureSummary(po.PressureTargetNs / 1e6, po.PressureProbeEvery, ts.Offloaded, ts.PressureProbes, ts.PressureBackoffs) : null,
                } : null,
        };
    }

    // A tiered host's nodes at the end (null for like DRAM nodes).
    private static List<NodeSummary>? NodeFigures(HostRuntime h)
    {
        if (h.Hv.NodeAccessTotals() is not { } access) return null;
        var guests = h.Hv.OwnedFramesByNode();
        return [.. h.Machine.Nodes.Select(n => new NodeSummary(n.Node, h.Hv.NodeKindName(n.Node), n.FrameCount, n.FreePages, guests[n.Node],
            access.Reads[n.Node], access.Writes[n.Node], Math.Round(access.StallNs[n.Node] / 1e6, 3)))];
    }

    private static List<TierSummary>? TierFigures(List<NodeSummary>? nodes)
    {
        if (nodes is null) return null;
        double all = nodes.Sum(n => (double)n.Reads + n.Writes);
        return [.. nodes.GroupBy(n => n.Kind).Select(g => new TierSummary(g.Key, g.Count(), g.Sum(n => n.Pages), g.Sum(n => n.FreePagesEnd), g.Sum(n => n.DomainPagesEnd),
            g.Sum(n => n.Reads), g.Sum(n => n.Writes), all == 0 ? 0 : Math.Round(g.Sum(n => (double)n.Reads + n.Writes) / all, 6), Math.Round(g.Sum(n => n.ExtraAccessMs), 3)))];
    }

    private RunResult Result()
    {
        var ends = _hosts.Select(h => h.Hv.Account()).ToList();
        var hosts = _hosts.Select(h => HostFigures(h, ends[h.Index])).ToList();
        var first = _hosts[0];
        // Refusals and host events of several hosts: the first ones in time order, as many as one host keeps.
        var errors = _hosts.Count == 1 ? first.Hv.Refusals.Kept : [.. _hosts.SelectMany(h => h.Hv.Refusals.Kept).OrderBy(e => e.TimeNs).Take(first.Hv.Refusals.Capacity)];
        var events = _hosts.Count == 1 ? first.Hv.Events.Kept : [.. _hosts.SelectMany(h => h.Hv.Events.Kept).OrderBy(e => e.TimeNs).Take(first.Hv.Events.Capacity)];
        long frames = _hosts.Sum(h => h.Machine.TotalFrames);
        var result = new RunResult
        {
            Wall = _wall.WithScanner(Sum(h => h.Sharing.WallTicks)).WithLanes(_lanes),
            Scenario = _scenario,
            Seed = _seed,
            Frames = first.Machine.TotalFrames,
            AllFrames = frames,
            FreePagesMin = first.FreeMin,
            End = ends[0],
            AccountingHeld = _hosts.All(h => h.AccountingHeld),
            Host = hosts[0],
            Hosts = _hosts.Count > 1 ? hosts : null,
            Domains = _records,
            Errors = errors,
            ErrorsTotal = Sum(h => h.Refusals.Count),
            Timeseries = _series,
            EventsProcessed = _clock.Processed,
            Mechanisms = Mechanisms(),
            Policy = first.Policy is { } policy ? _policyLog with { Name = policy.Name, IntervalNs = policy.IntervalNs } : null,
            Balance = _balancer is { } b ? new BalanceSummary(b.Spec.IntervalNs / 1e9, b.Spec.TargetStdDev, b.Invocations, b.Moves, Math.Round(b.LastStdDev, 6)) : null,
            Reclaim = _reclaim,
            Snapshots = _snapshots?.Items ?? [],
            HostEvents = events,
            HostEventsTotal = Sum(h => h.Events.Count),
            VerifiedReads = _records.Sum(r => r.Guest?.Integrity?.Checks ?? 0),
            IntegrityErrors = _records.Sum(r => r.Guest?.Integrity?.Violations ?? 0),
            PeakMetadata = new MetadataBytes(_hosts.Sum(h => h.Machine.Frames.SizeInBytes), _hosts.Sum(h => h.Machine.Nodes.Sum(n => n.PeakLinkBytes)),
                Sum(h => h.M2p.SizeInBytes), _peakP2mBytes, frames),
        };
        return result with { Summary = SummaryBuilder.From(result) };
    }
}
