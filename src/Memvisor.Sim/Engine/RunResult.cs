using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.Events;
using Memvisor.Sim.Metrics;
using Memvisor.Sim.Policies;
using Memvisor.Sim.Scenarios;
using Memvisor.Sim.Summary;

namespace Memvisor.Sim.Engine;

/// <summary>Everything a run produced that is deterministic (the summary and the time series), plus engine counters.</summary>
public sealed record RunResult
{
    public required Scenario Scenario { get; init; }
    /// <summary>Where the run's wall-clock time went (run.json only: not deterministic).</summary>
    public WallSplit Wall { get; init; } = new();
    public required ulong Seed { get; init; }
    /// <summary>The (first) host's frames: what <see cref="End"/>, <see cref="FreePagesMin"/> and the time series' host columns are out of.</summary>
    public required long Frames { get; init; }
    /// <summary>Frames of every host together (<see cref="Frames"/> for one host): what per-frame costs are over.</summary>
    public long AllFrames { get; init; }
    public required long FreePagesMin { get; init; }
    public required HostAccounting End { get; init; }
    public required bool AccountingHeld { get; init; }
    /// <summary>summary.json's host object, read when the run ended.</summary>
    public required HostSummary Host { get; init; }
    /// <summary>Every host's object when the scenario has several (the first is <see cref="Host"/>); null for one host.</summary>
    public IReadOnlyList<HostSummary>? Hosts { get; init; }
    public required IReadOnlyList<DomainRecord> Domains { get; init; }
    public required IReadOnlyList<RefusedRequest> Errors { get; init; }
    public required long ErrorsTotal { get; init; }
    public required Timeseries Timeseries { get; init; }
    public required long EventsProcessed { get; init; }
    public required MechanismsSummary Mechanisms { get; init; }
    public required IReadOnlyList<HostEvent> HostEvents { get; init; }
    public required long HostEventsTotal { get; init; }
    /// <summary>Reads the guests' integrity checkers verified, and how many returned the wrong bytes.</summary>
    public required long VerifiedReads { get; init; }
    public required long IntegrityErrors { get; init; }
    /// <summary>Peak bytes of per-frame bookkeeping: frame table, heap links, m2p and every p2m.</summary>
    public required MetadataBytes PeakMetadata { get; init; }
    /// <summary>The policy daemon's decisions and actions; null when the scenario runs none.</summary>
    public PolicyLog? Policy { get; init; }
    /// <summary>The host-level balancer's figures; null when the scenario has none.</summary>
    public Summary.BalanceSummary? Balance { get; init; }
    /// <summary>How long domains took to give back memory when their targets went down.</summary>
    public ReclaimLatency Reclaim { get; init; } = new();
    /// <summary>What the policy saw at each decision, when the run was asked to keep it (run --snapshots).</summary>
    public IReadOnlyList<Memvisor.Policy.Snapshot.HostSnapshot> Snapshots { get; init; } = [];
    /// <summary>summary.json as records, read from the mechanisms when the run ended; what Report writes and charts.</summary>
    public RunSummary Summary { get; init; } = null!;
}

/// <summary>The bytes of per-frame bookkeeping, by structure (DESIGN.md "Memory per frame").</summary>
public readonly record struct MetadataBytes(long FrameTable, long HeapLinks, long M2p, long P2m, long Frames)
{
    public long Total => FrameTable + HeapLinks + M2p + P2m;
    public double PerFrame => Frames == 0 ? 0 : (double)Total / Frames;
}
