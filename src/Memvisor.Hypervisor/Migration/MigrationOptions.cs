namespace Memvisor.Hypervisor.Migration;

/// <summary>
/// How a live migration runs: the link it sends over, and the pre-copy policy that decides when to stop and copy.
/// The policy's defaults are libxc's (tools/libs/guest/xg_sr_save.c, simple_precopy_policy): stop when fewer than 50
/// pages were dirtied in a round, or after 5 rounds.
/// </summary>
public sealed record MigrationOptions
{
    /// <summary>The link's bandwidth in bytes per second.</summary>
    public required double BandwidthBytesPerSecond { get; init; }
    /// <summary>The link's one-way latency, paid once by the stop-and-copy's last batch.</summary>
    public long LatencyNs { get; init; }
    /// <summary>Pre-copy rounds at most (SPP_MAX_ITERATIONS).</summary>
    public int MaxIterations { get; init; } = DefaultMaxIterations;
    /// <summary>libxc's SPP_MAX_ITERATIONS.</summary>
    public const int DefaultMaxIterations = 5;
    /// <summary>A round that leaves fewer dirty pages than this ends the pre-copy (SPP_TARGET_DIRTY_COUNT).</summary>
    public long TargetDirtyPages { get; init; } = 50;
    /// <summary>
    /// Whether a page of zeros goes as a flag without its bytes, as QEMU's migration does (migration/ram.c,
    /// save_zero_page); Xen's stream sends every page's 4 KiB.
    /// </summary>
    public bool ZeroPageDetection { get; init; }
    /// <summary>
    /// Post-copy (QEMU's postcopy-ram, libvirt's --postcopy-after-precopy): after this many pre-copy rounds the guest
    /// moves to the destination at once and its remaining pages follow, fetched when it touches them and pushed in the
    /// background; 0 is pure post-copy (Hines and Gopalan, VEE'09). Null: pre-copy only.
    /// </summary>
    public int? PostCopyAfterRounds { get; init; }
}
