namespace Memvisor.Hypervisor.Sharing;

/// <summary>Settings of the content-based sharing scanner (KSM's sysfs knobs; ESX's Mem.Share* options).</summary>
public sealed record SharingOptions
{
    public bool Enabled { get; init; }

    /// <summary>Pages scanned per second over all domains. Default 5,000: KSM's pages_to_scan 100 every sleep_millisecs 20.</summary>
    public double ScanRatePagesPerSecond { get; init; } = 5_000;

    /// <summary>The most mappings one shared frame takes before a second frame of the same content is made (KSM max_page_sharing, default 256).</summary>
    public int MaxPageSharing { get; init; } = 256;

    /// <summary>
    /// Whether an all-zero page maps to the one zero frame (KSM's use_zero_pages=1; ESX's zero-page sharing) or is
    /// merged like any other page, max_page_sharing mappings to a frame (KSM's default, use_zero_pages=0).
    /// </summary>
    public bool UseZeroPages { get; init; } = true;

    /// <summary>KSM's pages_to_scan and sleep_millisecs, when the scenario gave the rate that way (null otherwise).</summary>
    public int? PagesToScan { get; init; }
    public int? SleepMillisecs { get; init; }

    /// <summary>Whether pages of different domains are shared; false shares within one domain only (ESX's Mem.ShareForceSalting=2, the default since 2014, VMware KB 2097593). Zero pages are shared either way.</summary>
    public bool InterVm { get; init; } = true;
}
