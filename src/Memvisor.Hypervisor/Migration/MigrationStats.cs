namespace Memvisor.Hypervisor.Migration;

/// <summary>Where a live migration is.</summary>
public enum MigrationPhase { PreCopy, PostCopy, Done, Failed }

/// <summary>
/// One live migration's figures, as Clark et al. (NSDI'05) report them: the pre-copy rounds and the pages each sent,
/// the bytes on the link, the stop-and-copy's pages and downtime, the total time, and the writable working set (the
/// pages dirtied during the last pre-copy round, which the stop-and-copy had to send).
/// </summary>
public sealed class MigrationStats
{
    private readonly List<long> _pagesPerRound = [];

    /// <summary>Pre-copy rounds, the first (every page) included.</summary>
    public int Rounds => _pagesPerRound.Count;
    /// <summary>Pages each pre-copy round sent.</summary>
    public IReadOnlyList<long> PagesPerRound => _pagesPerRound;
    /// <summary>Pages the stop-and-copy sent: the last round's dirty pages and those deferred (paged out or compressed).</summary>
    public long StopAndCopyPages { get; internal set; }
    /// <summary>Pages sent in all, pre-copy and stop-and-copy.</summary>
    public long PagesSent { get; internal set; }
    /// <summary>Bytes on the link: each page record's 8-byte pfn and type, and a page's 4 KiB unless it went as a flag.</summary>
    public long BytesSent { get; internal set; }
    /// <summary>Pages not sent in pre-copy because they were paged out or compressed (Xen defers pages it cannot map to the last round).</summary>
    public long DeferredPages { get; internal set; }
    /// <summary>The pages dirtied in the last pre-copy round: the writable working set the stop-and-copy had to send.</summary>
    public long WritableWorkingSetPages { get; internal set; }
    /// <summary>The guest's pause: the stop-and-copy's bytes (under post-copy, the switch's: the bitmap of pages still to come) at the link's bandwidth, swap reads of deferred pages, and the latency.</summary>
    public long DowntimeNs { get; internal set; }
    /// <summary>From the start to the destination running the guest.</summary>
    public long TotalNs { get; internal set; }
    /// <summary>The guest's persistent tmem pages when it started, sent before the rounds (their bytes count in <see cref="BytesSent"/>).</summary>
    public long TmemPages { get; internal set; }
    /// <summary>Whether it switched to post-copy: the guest ran on the destination while its remaining pages followed.</summary>
    public bool PostCopy { get; internal set; }
    /// <summary>Pages still on the source when the guest moved (post-copy).</summary>
    public long RemotePagesAtSwitch { get; internal set; }
    /// <summary>Remote pages the guest touched before they arrived, each fetched while it waited (post-copy faults).</summary>
    public long PagesFetchedOnFault { get; internal set; }
    /// <summary>Remote pages the source pushed in the background before the guest touched them.</summary>
    public long PagesPushed { get; internal set; }
    /// <summary>Time the guest waited for fetched pages: a round trip and the page's transfer each.</summary>
    public long FaultWaitNs { get; internal set; }
    /// <summary>From the guest's move to the destination to the last remote page's arrival (post-copy).</summary>
    public long PostCopyNs { get; internal set; }
    /// <summary>Why the migration failed, or null.</summary>
    public string? FailedBecause { get; internal set; }

    internal void EndRound(long pages) => _pagesPerRound.Add(pages);
}
