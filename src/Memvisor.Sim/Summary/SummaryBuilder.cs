using Memvisor.Guest.Kernel;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Migration;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Hypervisor.Mmu.LogDirty;
using Memvisor.Machine.Frames;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Policies;

namespace Memvisor.Sim.Summary;

/// <summary>Reads the mechanisms' stats records at the end of a run into a <see cref="RunSummary"/>: units converted, rates rounded, nothing else.</summary>
public static class SummaryBuilder
{
    public static RunSummary From(RunResult r) => new()
    {
        Scenario = r.Scenario.Name,
        Seed = r.Seed,
        DurationS = r.Scenario.DurationNs / 1e9,
        Host = r.Host,
        Hosts = r.Hosts,
        Domains = [.. r.Domains.Where(d => d.State != DomainState.NotCreated).Select(d => Domain(d, r))],
        Mechanisms = r.Mechanisms,
        Policy = r.Policy is { } p ? Policy(p) : null,
        Balance = r.Balance,
        Integrity = new IntegritySummary(r.VerifiedReads, r.IntegrityErrors),
        HostEventsTotal = r.HostEventsTotal,
        HostEvents = [.. r.HostEvents.Select(e => new HostEventSummary(e.TimeNs / 1e9, e.Mechanism, e.Domain, e.Message))],
        ErrorsTotal = r.ErrorsTotal,
        Errors = [.. r.Errors.Select(e => new ErrorSummary(e.TimeNs / 1e9, e.Domain, e.Call, e.Errno.ToString(), e.Message))],
    };

    private static DomainSummary Domain(DomainRecord d, RunResult run)
    {
        var hosts = run.Scenario.MoreHosts.Count == 0 ? null : run.Scenario.Hosts;
        bool running = d.State == DomainState.Running;
        var dom = d.Domain;
        var stats = dom?.Stats;
        return new DomainSummary
        {
            Name = d.Name,
            Domid = d.DomId,
            State = d.State.ToString().ToLowerInvariant(),
            Host = hosts?[d.HostIndex].Name,
            MemoryKib = PageSize.ToKiB(d.TargetPages),
            MaxmemKib = PageSize.ToKiB(d.MaxPages),
            TotPages = d.TotPages,
            MaxPages = d.MaxPages,
            Allocation = dom?.Allocation == AllocationMode.OnDemand ? "on-demand" : "static",
            CreatedAtS = d.CreatedAtNs / 1e9,
            DestroyedAtS = d.DestroyedAtNs >= 0 ? d.DestroyedAtNs / 1e9 : null,
            Restarts = d.Restarts,
            ReservePages = dom is null ? null : running ? dom.ReservePages : 0,
            PagesPopulated = stats?.PagesPopulated,
            PagesReleased = stats?.PagesReleased,
            PodFaults = stats?.PodFaults,
            Pod = dom?.Pod is { } pod ? new PodSummary(running ? pod.Count : 0, pod.Stats.Served, pod.Stats.Sweeps, pod.Stats.PagesChecked, pod.Stats.ZeroReclaimed, pod.Stats.Released) : null,
            Migrations = d.Migrations is { } ms ? [.. ms.Select(m => Migration(m) with { From = hosts?[m.FromHost].Name, To = hosts?[m.ToHost].Name })] : null,
            SaveRestore = d.SaveRestore is { } sr ? SaveRestore(sr) : null,
            LargePages = dom is null ? null : LargePages(dom, running, run),
            Block = d.Guest?.Block is Memvisor.Guest.Devices.BlkFront { Stats: var b } front ? new BlockSummary(front.Persistent, b.Reads, b.Writes, b.Errors, b.GrantsIssued,
                b.BackendMaps, b.BackendUnmaps, b.PersistentCopies, b.FrontendNotifies, b.BackendNotifies, b.GrantedPages) { Resumes = b.Resumes } : null,
            Nic = d.Guest?.Nic is { Stats: var n } nic ? new NicSummary(nic.Flip, n.RxPages, n.TxPages, n.RxCopies, n.TxCopies, n.Flips, n.GrantsIssued, n.Errors,
                n.BackendReplenished, n.BufferPages) { Resumes = n.Resumes } : null,
            Refusals = stats?.Refusals,
            HypervisorMs = stats is { } s ? Math.Round(s.HypervisorNs / 1e6, 3) : null,
            Mmu = dom?.Mmu is { } mmu ? Mmu(mmu) : null,
            Vram = dom?.Vram is { } vram ? Vram(vram) : null,
            Guest = d.Guest is { } g ? Guest(g) : null,
            Processes = d.Guest is { } k ? [.. k.Workload.Processes.Select(Process)] : null,
        };
    }

    // The p2m superpages a domain was given and kept; what broke them, and the hypervisor's time for the splits.
    private static LargePagesSummary LargePages(Memvisor.Hypervisor.Domains.Domain dom, bool running, RunResult run)
    {
        var p2m = dom.P2m;
        var summary = new LargePagesSummary(dom.Stats.LargePagesPopulated, p2m.LargePagesBroken, running ? p2m.CountSuperpages() : 0);
        if (p2m.LargePagesBroken == 0) return summary;
        var costs = new Memvisor.Machine.Time.CostModel();
        costs.Apply(run.Scenario.Costs);
        var by = p2m.SplitsBy;
        return summary with
        {
            BrokenBy = new LargePageSplitsSummary(by.Sharing, by.Paging, by.Released, by.Moved, by.Other),
            SplitMs = p2m.LargePagesBroken * costs.P2mSplitNs / 1e6,
        };
    }

    private static MigrationSummary Migration(MigrationRecord r)
    {
        if (r.Migration is not { } m) return new MigrationSummary(r.StartedAtNs / 1e9, "refused", 0, [], 0, 0, 0, 0, 0, 0, 0);
        var s = m.Stats;
        string outcome = m.Phase switch { MigrationPhase.Done => "done", MigrationPhase.Failed => "failed", MigrationPhase.PostCopy => "post-copy", _ => "running" };
        return new MigrationSummary(r.StartedAtNs / 1e9, outcome, s.Rounds, [.. s.PagesPerRound], s.StopAndCopyPages, s.PagesSent, s.BytesSent,
            s.DeferredPages, s.WritableWorkingSetPages, Math.Round(s.DowntimeNs / 1e6, 3), Math.Round(s.TotalNs / 1e6, 3))
        {
            TmemPages = s.TmemPages > 0 ? s.TmemPages : null,
            Postcopy = s.PostCopy
                ? new PostCopySummary(s.RemotePagesAtSwitch, s.PagesFetchedOnFault, s.PagesPushed, Math.Round(s.FaultWaitNs / 1e6, 3), Math.Round(s.PostCopyNs / 1e6, 3))
                : null,
        };
    }

    private static SaveRestoreSummary SaveRestore(SaveRestoreTally t)
    {
        var i = t.LastImage;
        return new SaveRestoreSummary(t.Saves, t.Restores, t.Refused, i.Pages, i.ZeroPages, i.HandlePages, i.BytePages, i.DuplicatePages,
            i.PodEntries, i.PagesReadBack, i.FileBytes, t.ImageBytes, Math.Round(t.SaveNs / 1e6, 3), Math.Round(t.RestoreNs / 1e6, 3), t.SavedNs / 1e9)
        {
            TmemPages = i.TmemPages > 0 ? i.TmemPages : null,
        };
    }

    private static MmuSummary Mmu(GuestMmu mmu)
    {
        var s = mmu.Stats;
        return new MmuSummary
        {
            Mode = mmu.Mode.Name(),
            HypervisorTrips = s.HypervisorTrips,
            Exits = new ExitsSummary(s.Exits[(int)ExitReason.PageFault], s.Exits[(int)ExitReason.PageTableWrite], s.Exits[(int)ExitReason.Cr3Write],
                s.Exits[(int)ExitReason.Invlpg], s.Exits[(int)ExitReason.EptViolation], s.Exits[(int)ExitReason.LogDirty]),
            Hypercalls = s.Hypercalls,
            Updates = s.Updates,
            UpdatesRefused = s.UpdatesRefused,
            UpdatesPerHypercall = Math.Round(s.UpdatesPerHypercall, 3),
            ExtOps = s.ExtOps,
            DemandFaults = s.DemandFaults,
            EmulatedWrites = s.EmulatedWrites,
            Unsynced = s.Unsynced,
            Resyncs = s.Resyncs,
            PulledThrough = s.PulledThrough,
            ShadowsMade = s.ShadowsMade,
            TlbHits = s.TlbHits,
            TlbMisses = s.TlbMisses,
            TlbFlushes = s.TlbFlushes,
            Walks = s.Walks,
            WalkRefsMax = s.WalkRefsMax,
            WalkRefsTotal = s.WalkRefsTotal,
            HypervisorMs = Math.Round(s.HypervisorNs / 1e6, 3),
        };
    }

    private static VramSummary Vram(VramTracker v) => new()
    {
        FirstGfn = v.FirstGfn,
        Pages = v.Pages,
        RefreshHz = Math.Round(1e9 / v.PeriodNs, 3),
        Refreshes = v.Refreshes,
        DirtyPages = v.DirtyPagesReturned,
        PollingMs = Math.Round(v.PollingNs / 1e6, 3),
        TrackingMs = Math.Round(v.TrackingNs / 1e6, 3),
        TrackingWithDropMs = Math.Round(v.TrackingWithDropNs / 1e6, 3),
        Drops = v.Drops,
        Resumes = v.Resumes,
    };

    private static GuestSummary Guest(GuestKernel g)
    {
        var s = g.Stats;
        var m = g.MemInfo();
        return new GuestSummary
        {
            Workload = g.Workload.Kind,
            KernelImage = g.Options.KernelImage,
            Image = g.ImageFill is { } fill ? new ImageSummary(fill.Path, fill.Loaded, fill.ZeroPages, fill.OutsideMemory) : null,
            HeldPages = g.HeldPages,
            Accesses = s.Accesses,
            Writes = s.Writes,
            FailedAccesses = s.FailedAccesses,
            AllocationFailures = s.AllocationFailures,
            MinorFaults = s.MinorFaults,
            MajorFaults = s.MajorFaults,
            SwapIns = s.SwapIns,
            SwapOuts = s.SwapOuts,
            OomKills = s.OomKills,
            PagesScanned = s.PagesScanned,
            PagesStolen = s.PagesStolen,
            DirectReclaims = s.DirectReclaims,
            FileReads = s.FileReads,
            WritebackPages = s.WritebackPages,
            StallMs = Math.Round(s.StallNs / 1e6, 3),
            PagesGivenBack = s.PagesGivenBack,
            PagesTakenBack = s.PagesTakenBack,
            TargetFailures = s.TargetFailures,
            MemTotalKib = PageSize.ToKiB(m.MemTotal),
            MemFreeKib = PageSize.ToKiB(m.MemFree),
            MemAvailableKib = PageSize.ToKiB(m.MemAvailable),
            CachedKib = PageSize.ToKiB(m.Cached),
            DirtyKib = PageSize.ToKiB(m.Dirty),
            AnonPagesKib = PageSize.ToKiB(m.AnonPages),
            PageTablesKib = PageSize.ToKiB(m.PageTables),
            KernelKib = PageSize.ToKiB(m.KernelPages),
            ActiveAnonKib = PageSize.ToKiB(m.ActiveAnon),
            InactiveAnonKib = PageSize.ToKiB(m.InactiveAnon),
            ActiveFileKib = PageSize.ToKiB(m.ActiveFile),
            InactiveFileKib = PageSize.ToKiB(m.InactiveFile),
            CommittedAsKib = PageSize.ToKiB(m.CommittedAs),
            SwapTotalKib = PageSize.ToKiB(m.SwapTotal),
            SwapFreeKib = PageSize.ToKiB(m.SwapFree),
            MeminfoAddsUp = m.AddsUp,
            OomKilled = [.. g.OomKills.Select(k => new OomKilledSummary(k.TimeNs / 1e9, k.Pid, k.Process, k.Pages))],
            IntegrityChecks = g.Integrity?.Checks,
            IntegrityViolations = g.Integrity?.Violations,
            Tiering = g.Tiering?.Stats is { } t ? new GuestTieringSummary(t.HintFaults, t.Promoted, t.PromoteRefused, t.Demoted) : null,
            Thp = g.Thp is { } thp ? new ThpSummary(thp.Stats.FaultAlloc, thp.Stats.FaultFallback, thp.HugePages,
                new ThpSplitsSummary(thp.Stats.SplitReclaim, thp.Stats.SplitMigration), thp.Stats.Zapped, thp.Stats.SplitNs / 1e6) : null,
        };
    }

    private static ProcessSummary Process(Memvisor.Guest.Mm.Process p)
    {
        var s = p.Stats;
        return new ProcessSummary
        {
            Name = p.Name,
            Pid = p.Pid,
            Exited = p.Exited,
            Accesses = s.Accesses,
            Instructions = s.Instructions,
            Loads = s.Loads,
            Stores = s.Stores,
            Modifies = s.Modifies,
            DistinctPages = s.DistinctPages,
            MinorFaults = s.MinorFaults,
            MajorFaults = s.MajorFaults,
            SegmentationFaults = s.SegmentationFaults,
            RssPages = s.RssAnon + s.RssFile,
            SwapPages = s.SwapEntries,
            PageTablePages = s.PageTablePages,
        };
    }

    private static PolicySummary Policy(PolicyLog p) =>
        new(p.Name, p.IntervalNs / 1e9, p.Decisions, new SortedDictionary<string, long>(p.Actions, StringComparer.Ordinal), p.Refused);
}
