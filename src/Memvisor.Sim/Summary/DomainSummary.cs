namespace Memvisor.Sim.Summary;

/// <summary>One domain instance at the end of the run (or when it was destroyed), with what its guest and MMU did.</summary>
public sealed record DomainSummary
{
    public required string Name { get; init; }
    public required ushort Domid { get; init; }
    /// <summary>running, destroyed, failed (not built), crashed (by the hypervisor, then destroyed) or saved (xl save, not restored by the end).</summary>
    public required string State { get; init; }
    /// <summary>The host the domain runs on at the end (or ran on last), when the scenario has several hosts.</summary>
    public string? Host { get; init; }
    public required long MemoryKib { get; init; }
    public required long MaxmemKib { get; init; }
    public required long TotPages { get; init; }
    public required long MaxPages { get; init; }
    /// <summary>static or on-demand.</summary>
    public required string Allocation { get; init; }
    public required double CreatedAtS { get; init; }
    public double? DestroyedAtS { get; init; }
    /// <summary>Times the domain was restarted; the figures below are its last instance's.</summary>
    public int Restarts { get; init; }
    // The hypervisor's counters for the domain; absent for a domain that failed before it existed.
    public long? ReservePages { get; init; }
    public long? PagesPopulated { get; init; }
    public long? PagesReleased { get; init; }
    public long? PodFaults { get; init; }
    /// <summary>Xen populate-on-demand: the domain's cache and its sweeps; absent for other domains.</summary>
    public PodSummary? Pod { get; init; }
    /// <summary>2 MiB pages: first touches backed by one, those broken since (sharing, ballooning, paging) and those mapped at the end; absent for a domain that failed.</summary>
    public LargePagesSummary? LargePages { get; init; }
    /// <summary>Live migrations of this instance (migrate actions), in order; absent if it was never migrated.</summary>
    public IReadOnlyList<MigrationSummary>? Migrations { get; init; }
    /// <summary>xl save and restore of this instance; absent if it was never saved.</summary>
    public SaveRestoreSummary? SaveRestore { get; init; }
    /// <summary>A PV disk's split driver (disk: driver: pv); absent for a disk reached directly.</summary>
    public BlockSummary? Block { get; init; }
    /// <summary>A PV network device (nic: driver: pv); absent otherwise.</summary>
    public NicSummary? Nic { get; init; }
    public long? Refusals { get; init; }
    public double? HypervisorMs { get; init; }
    public MmuSummary? Mmu { get; init; }
    public VramSummary? Vram { get; init; }
    public GuestSummary? Guest { get; init; }
    public IReadOnlyList<ProcessSummary>? Processes { get; init; }
}

/// <summary>A Xen populate-on-demand domain's cache: what is left in it, first touches it served, emergency sweeps and what they took back.</summary>
public sealed record PodSummary(long CachePages, long Served, long Sweeps, long PagesChecked, long ZeroReclaimed, long Released);

/// <summary>
/// A domain's saves and restores: how many, those refused, the last image (its pages by record kind and its size), the
/// bytes of all images, the modeled time writing and reading them, and the time the domain spent saved (its downtime
/// between the save and restore actions, and to the end of the run if it was not restored).
/// </summary>
public sealed record SaveRestoreSummary(int Saves, int Restores, int Refused, long ImagePages, long ZeroPages, long HandlePages,
    long BytePages, long DuplicatePages, long PodEntries, long PagesReadBack, long ImageBytes, long ImageBytesTotal, double SaveMs, double RestoreMs, double SavedS)
{
    /// <summary>The last image's frontswap pages (the guest's persistent tmem pools); absent when it had none.</summary>
    public long? TmemPages { get; init; }
}

/// <summary>
/// One live migration: when it started, how it ended (done, failed, refused, or running at the end of the run), its
/// pre-copy rounds and the pages each sent, the stop-and-copy's pages, pages and bytes on the link, pages deferred to
/// the stop-and-copy, the writable working set, the downtime and the total time.
/// </summary>
public sealed record MigrationSummary(double AtS, string Outcome, int Rounds, IReadOnlyList<long> PagesPerRound, long StopAndCopyPages,
    long PagesSent, long BytesSent, long DeferredPages, long WritableWorkingSetPages, double DowntimeMs, double TotalMs)
{
    /// <summary>The hosts it left and went to, when the scenario has several hosts.</summary>
    public string? From { get; init; }
    public string? To { get; init; }
    /// <summary>The guest's frontswap pages (persistent tmem) sent before the rounds; absent when it had none.</summary>
    public long? TmemPages { get; init; }
    /// <summary>What followed the guest once it moved, when the migration switched to post-copy; absent otherwise.</summary>
    public PostCopySummary? Postcopy { get; init; }
}

/// <summary>
/// A post-copy migration after the guest moved: the pages still on the source then, those the guest touched first
/// (each fetched while it waited) and those pushed before it did, the guest's total wait for fetches, and the time
/// until the last page arrived.
/// </summary>
public sealed record PostCopySummary(long RemotePages, long FetchedOnFault, long Pushed, double FaultWaitMs, double PostcopyMs);

/// <summary>
/// A PV disk: requests by kind and failed, grants the frontend issued, the backend's maps and unmaps, the copies
/// persistent grants cost, notifications each way, and the guest's pages kept granted (the ring, the persistent pool).
/// </summary>
public sealed record BlockSummary(bool PersistentGrants, long Reads, long Writes, long Errors, long GrantsIssued, long BackendMaps, long BackendUnmaps,
    long PersistentCopies, long FrontendNotifies, long BackendNotifies, long GrantedPages)
{
    /// <summary>Times it connected again after a restore or a migration (blkfront's resume).</summary>
    public long Resumes { get; init; }
}

/// <summary>
/// A PV network device: pages received and sent, the backend's grant copies each way and page flips, grants the
/// frontend issued, pages that arrived wrong or failed, pages dom0 took from Xen in place of flipped ones, and the
/// guest's buffer pages.
/// </summary>
public sealed record NicSummary(bool Flip, long RxPages, long TxPages, long RxCopies, long TxCopies, long Flips, long GrantsIssued, long Errors,
    long BackendReplenished, long BufferPages)
{
    /// <summary>Times it connected again after a restore or a migration (netfront's resume).</summary>
    public long Resumes { get; init; }
}

/// <summary>A domain's 2 MiB pages: first touches backed by one, those broken since, and the 2 MiB regions mapped by one machine extent at the end.</summary>
public sealed record LargePagesSummary(long Populated, long Broken, long Mapped)
{
    /// <summary>What broke them (by what the first changed entry became) and the hypervisor's time splitting them; absent when none broke.</summary>
    public LargePageSplitsSummary? BrokenBy { get; init; }
    public double? SplitMs { get; init; }
}

/// <summary>2 MiB p2m pages split because a page of them was shared, paged out or compressed, given back, moved to another frame, or anything else.</summary>
public sealed record LargePageSplitsSummary(long Sharing, long Paging, long Released, long Moved, long Other);

/// <summary>How the domain's MMU mode paid for its page tables.</summary>
public sealed record MmuSummary
{
    public required string Mode { get; init; }
    public required long HypervisorTrips { get; init; }
    public required ExitsSummary Exits { get; init; }
    public required long Hypercalls { get; init; }
    public required long Updates { get; init; }
    public required long UpdatesRefused { get; init; }
    public required double UpdatesPerHypercall { get; init; }
    public required long ExtOps { get; init; }
    public required long DemandFaults { get; init; }
    public required long EmulatedWrites { get; init; }
    public required long Unsynced { get; init; }
    public required long Resyncs { get; init; }
    public required long PulledThrough { get; init; }
    public required long ShadowsMade { get; init; }
    public required long TlbHits { get; init; }
    public required long TlbMisses { get; init; }
    public required long TlbFlushes { get; init; }
    public required long Walks { get; init; }
    public required int WalkRefsMax { get; init; }
    public required long WalkRefsTotal { get; init; }
    public required double HypervisorMs { get; init; }
}

/// <summary>VM exits by reason, in the order of Memvisor.Hypervisor.Mmu.ExitReason.</summary>
public sealed record ExitsSummary(long PageFault, long PageTableWrite, long Cr3Write, long Invlpg, long EptViolation, long LogDirty);

/// <summary>The device model's refresh of a video RAM, under the three ways of finding what the guest drew.</summary>
public sealed record VramSummary
{
    public required ulong FirstGfn { get; init; }
    public required ulong Pages { get; init; }
    public required double RefreshHz { get; init; }
    public required long Refreshes { get; init; }
    public required long DirtyPages { get; init; }
    public required double PollingMs { get; init; }
    public required double TrackingMs { get; init; }
    public required double TrackingWithDropMs { get; init; }
    public required long Drops { get; init; }
    public required long Resumes { get; init; }
}

/// <summary>One process of the guest's workload.</summary>
public sealed record ProcessSummary
{
    public required string Name { get; init; }
    public required int Pid { get; init; }
    public required bool Exited { get; init; }
    public required long Accesses { get; init; }
    public required long Instructions { get; init; }
    public required long Loads { get; init; }
    public required long Stores { get; init; }
    public required long Modifies { get; init; }
    public required long DistinctPages { get; init; }
    public required long MinorFaults { get; init; }
    public required long MajorFaults { get; init; }
    public required long SegmentationFaults { get; init; }
    public required long RssPages { get; init; }
    public required long SwapPages { get; init; }
    public required long PageTablePages { get; init; }
}
