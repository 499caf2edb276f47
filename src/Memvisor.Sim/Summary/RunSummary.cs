namespace Memvisor.Sim.Summary;

// summary.json as records. Report serializes them as they are (snake_case, declaration order), so a property's
// name here is its key there, and docs/schema/summary.schema.json is exported from these types.

/// <summary>Everything deterministic a run produced, as summary.json holds it.</summary>
public sealed record RunSummary
{
    public required string Scenario { get; init; }
    public required ulong Seed { get; init; }
    public required double DurationS { get; init; }
    /// <summary>The host, or the first host of a scenario with several.</summary>
    public required HostSummary Host { get; init; }
    /// <summary>Every host, in the scenario's order, when it has several; absent for one host.</summary>
    public IReadOnlyList<HostSummary>? Hosts { get; init; }
    public required IReadOnlyList<DomainSummary> Domains { get; init; }
    public required MechanismsSummary Mechanisms { get; init; }
    /// <summary>The policy daemon's decisions; absent when the scenario runs none.</summary>
    public PolicySummary? Policy { get; init; }
    /// <summary>The balancer that moves guests between hosts; absent when the scenario has none.</summary>
    public BalanceSummary? Balance { get; init; }
    public required IntegritySummary Integrity { get; init; }
    public required long HostEventsTotal { get; init; }
    /// <summary>The first host events (the run keeps a bounded number; <see cref="HostEventsTotal"/> counts them all).</summary>
    public required IReadOnlyList<HostEventSummary> HostEvents { get; init; }
    public required long ErrorsTotal { get; init; }
    /// <summary>The first refused requests (bounded, as host events are).</summary>
    public required IReadOnlyList<ErrorSummary> Errors { get; init; }
}

/// <summary>The host's memory at the end of the run, and its low point.</summary>
public sealed record HostSummary
{
    /// <summary>The host's name, when the scenario has several hosts.</summary>
    public string? Name { get; init; }
    /// <summary>Which hypervisor the host was: xen, esx, kvm or hyperv.</summary>
    public required string Hypervisor { get; init; }
    public required long Frames { get; init; }
    public required long MemoryKib { get; init; }
    public required int NumaNodes { get; init; }
    public required long FreePagesEnd { get; init; }
    public required long FreePagesMin { get; init; }
    public required long ScrubPendingPagesEnd { get; init; }
    public required long Dom0Pages { get; init; }
    public required long HypervisorPagesEnd { get; init; }
    public required long HypervisorBootPages { get; init; }
    public required long OwnedPagesEnd { get; init; }
    public required long SharedPagesEnd { get; init; }
    public required long CompressionPagesEnd { get; init; }
    public required long TmemPagesEnd { get; init; }
    /// <summary>Sum of maxmem over the guests the run created (dom0 excluded): what the host promised.</summary>
    public required long ConfiguredGuestPages { get; init; }
    public required double OvercommitRatio { get; init; }
    public required long ScrubbedIdle { get; init; }
    public required long ScrubbedOnAllocation { get; init; }
    public required long LargestFreeOrder { get; init; }
    public required double UnusableFreeIndexOrder9 { get; init; }
    public required bool AccountingHeld { get; init; }
    /// <summary>A tiered host's memory nodes (host.nodes): absent for like DRAM nodes.</summary>
    public IReadOnlyList<NodeSummary>? Nodes { get; init; }
    /// <summary>A tiered host's nodes summed by kind.</summary>
    public IReadOnlyList<TierSummary>? Tiers { get; init; }
    /// <summary>Pages moved between memory nodes (a tiered host, or one whose guests' pages some action moved).</summary>
    public PageMigrationSummary? PageMigrations { get; init; }
    /// <summary>The transparent tiering scanner (host.tiering only).</summary>
    public TieringSummary? Tiering { get; init; }
}

/// <summary>The tiering scanner: its scans, the pages they looked at, the hot and cold pages the last one found, the pages it promoted (of them, for a write, when write-aware) and demoted, and its time.</summary>
public sealed record TieringSummary(long Scans, long PagesScanned, long HotPagesLast, long ColdPagesLast, long Promoted, long WritePromoted, long TouchPromoted, long TouchRefused, long Demoted, double ScanMs)
{
    /// <summary>Pressure-driven offloading, when on (pressure_target).</summary>
    public TieringPressureSummary? Pressure { get; init; }
}

/// <summary>TMO-style offloading: its target and probe interval, the cold pages it offloaded (counted in demoted too), and how often the domains' limits tightened and backed off.</summary>
public sealed record TieringPressureSummary(double TargetMs, int ProbeEvery, long Offloaded, long Probes, long Backoffs);

/// <summary>Pages the host moved between its memory nodes: to a faster node (promoted) or a slower one (demoted), the moves refused, the vCPU TLB shootdowns they sent and the hypervisor's time for them.</summary>
public sealed record PageMigrationSummary(long Migrated, long Promoted, long Demoted, long Refused, long Shootdowns, double HypervisorMs);

/// <summary>
/// One memory node of a tiered host at the end: its kind and size, its free frames, the frames guests' p2ms map there,
/// the guest accesses it served (reads, writes) and the time they cost beyond the guests' local DRAM.
/// </summary>
public sealed record NodeSummary(int Node, string Kind, long Pages, long FreePagesEnd, long DomainPagesEnd, long Reads, long Writes, double ExtraAccessMs);

/// <summary>A tiered host's nodes of one kind, summed; access_share is this kind's share of every guest access on the host.</summary>
public sealed record TierSummary(string Kind, int Nodes, long Pages, long FreePagesEnd, long DomainPagesEnd, long Reads, long Writes, double AccessShare, double ExtraAccessMs);

/// <summary>The host-level balancer: how often it looked, the migrations it started, and the hosts' load standard deviation when it last looked.</summary>
public sealed record BalanceSummary(double IntervalS, double TargetStddev, long Invocations, long Moves, double LoadStddevLast);

/// <summary>Whether the guests read back what they wrote.</summary>
public sealed record IntegritySummary(long VerifiedReads, long Errors);

/// <summary>One event a host mechanism reported (paging stopped, a balloon stuck, ...).</summary>
public sealed record HostEventSummary(double TimeS, string Mechanism, string Domain, string Message);

/// <summary>One request the hypervisor refused, with Xen's errno.</summary>
public sealed record ErrorSummary(double TimeS, string Domain, string Call, string Errno, string Reason);

/// <summary>The policy daemon: how often it decided and what it did.</summary>
public sealed record PolicySummary(string Name, double IntervalS, long Decisions, IReadOnlyDictionary<string, long> Actions, long Refused);
