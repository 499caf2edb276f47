namespace Memvisor.Sim.Summary;

/// <summary>What each overcommit mechanism did over the run, summed over domains.</summary>
public sealed record MechanismsSummary(
    BalloonSummary Balloon,
    SharingSummary Sharing,
    PagingSummary Paging,
    CompressionSummary Compression,
    TmemSummary Tmem,
    FreePageReportingSummary FreePageReporting,
    HotplugSummary Hotplug)
{
    /// <summary>The grant tables (split drivers); absent when no domain set one up.</summary>
    public GrantsSummary? Grants { get; init; }
}

/// <summary>
/// The grant-table operations over the run (Xen's common/grant_table.c), summed over hosts: maps and unmaps, copies,
/// transfers, refusals, the most foreign frames mapped at once and at the end, the table frames at the end, and the
/// pages of dom0 given back to Xen for backends to map into.
/// </summary>
public sealed record GrantsSummary(long TablesSetUp, long Maps, long Unmaps, long Copies, long Transfers, long Refused, long PeakMapped, long MappedEnd,
    long TableFramesEnd, long BackendForeignPages);

/// <summary>The guests' balloon drivers: pages given back to the host and taken back, and the watchdog's findings.</summary>
public sealed record BalloonSummary(long PagesGivenBack, long PagesTakenBack, long Stuck, long Uncooperative, long SelfballoonAdjustments);

public sealed record SharingSummary(long PagesShared, long PagesSharing, long PagesUnshared, long ZeroPages, long SavedPages, long PagesScanned, long CowBreaks, long FullScans, long LargePageSkips);

/// <summary>Hypervisor swapping; <see cref="Stopped"/> says why paging-out stopped, when it did.</summary>
public sealed record PagingSummary(long PagedOut, long PagedIn, long SwapWrites, long SwapReads, long ZeroDropped, long EmergencyEvictions,
    long SmartPagingEvictions, long SwapFileFull, long WriteErrors, long ReadErrors, long ChecksumErrors, long UnreadablePages, string? Stopped);

public sealed record CompressionSummary(long PagesCompressed, long PagesDecompressed, long Incompressible, long EvictedToSwap, long BytesSaved, double Ratio);

public sealed record TmemSummary(long Puts, long Gets, long GetMisses, long PutsRefused, long EphemeralEvicted, long PagesEnd);

public sealed record FreePageReportingSummary(long PagesReported);

public sealed record HotplugSummary(long PagesAdded, long PagesRemoved, long PagesMigrated, long OfflineFailures);
