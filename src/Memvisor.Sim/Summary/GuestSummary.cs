namespace Memvisor.Sim.Summary;

/// <summary>The guest kernel's counters (Linux's /proc/vmstat names where Linux has them) and its /proc/meminfo at the end, in KiB.</summary>
public sealed record GuestSummary
{
    public required string Workload { get; init; }
    public required string KernelImage { get; init; }
    /// <summary>The memory image the guest booted from; absent for a generated workload.</summary>
    public ImageSummary? Image { get; init; }
    public required long HeldPages { get; init; }
    public required long Accesses { get; init; }
    public required long Writes { get; init; }
    public required long FailedAccesses { get; init; }
    public required long AllocationFailures { get; init; }
    public required long MinorFaults { get; init; }
    public required long MajorFaults { get; init; }
    public required long SwapIns { get; init; }
    public required long SwapOuts { get; init; }
    public required long OomKills { get; init; }
    public required long PagesScanned { get; init; }
    public required long PagesStolen { get; init; }
    public required long DirectReclaims { get; init; }
    public required long FileReads { get; init; }
    public required long WritebackPages { get; init; }
    public required double StallMs { get; init; }
    /// <summary>Pages the balloon driver gave back to the host, and took back from it.</summary>
    public required long PagesGivenBack { get; init; }
    public required long PagesTakenBack { get; init; }
    public required long TargetFailures { get; init; }
    public required long MemTotalKib { get; init; }
    public required long MemFreeKib { get; init; }
    public required long MemAvailableKib { get; init; }
    public required long CachedKib { get; init; }
    public required long DirtyKib { get; init; }
    public required long AnonPagesKib { get; init; }
    public required long PageTablesKib { get; init; }
    public required long KernelKib { get; init; }
    public required long ActiveAnonKib { get; init; }
    public required long InactiveAnonKib { get; init; }
    public required long ActiveFileKib { get; init; }
    public required long InactiveFileKib { get; init; }
    public required long CommittedAsKib { get; init; }
    public required long SwapTotalKib { get; init; }
    public required long SwapFreeKib { get; init; }
    public required bool MeminfoAddsUp { get; init; }
    public required IReadOnlyList<OomKilledSummary> OomKilled { get; init; }
    /// <summary>The integrity checker's reads and the wrong bytes among them; absent when the guest runs no checker.</summary>
    public long? IntegrityChecks { get; init; }
    public long? IntegrityViolations { get; init; }
    /// <summary>The guest's tiering of its own NUMA nodes (guest.tiering); absent without it.</summary>
    public GuestTieringSummary? Tiering { get; init; }
    /// <summary>Transparent huge pages (guest.thp); absent without them.</summary>
    public ThpSummary? Thp { get; init; }
}

/// <summary>NUMA hint faults on the guest's CPU-less node, the pages they promoted to its CPUs' node and those they found no room for, and the cold pages kswapd demoted the other way.</summary>
public sealed record GuestTieringSummary(long HintFaults, long Promoted, long PromoteRefused, long Demoted);

/// <summary>
/// The guest's transparent huge pages: faults that mapped a 2 MiB page and those that fell back to 4 KiB, huge pages
/// mapped at the end, splits by cause, huge pages freed whole, and the guest's time splitting.
/// </summary>
public sealed record ThpSummary(long FaultAlloc, long FaultFallback, long HugePagesEnd, ThpSplitsSummary Split, long Zapped, double SplitMs);

/// <summary>Huge pages split because reclaim swapped out a page of them, or a page of them moved to another gfn.</summary>
public sealed record ThpSplitsSummary(long Reclaim, long Migration);

/// <summary>The memory image a guest's pages were filled from.</summary>
public sealed record ImageSummary(string Path, long PagesLoaded, long ZeroPages, long PagesNotPlaced);

/// <summary>One process the guest's OOM killer chose.</summary>
public sealed record OomKilledSummary(double TimeS, int Pid, string Process, long Pages);
