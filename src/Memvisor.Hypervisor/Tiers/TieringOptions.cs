namespace Memvisor.Hypervisor.Tiers;

/// <summary>The hypervisor's transparent tiering on a tiered host (host.tiering), after RAMinate (Hirofuchi and Takano, SoCC'16).</summary>
public sealed record TieringOptions
{
    public bool Enabled { get; init; }
    /// <summary>How often the scanner reads and clears the accessed bits of every guest page (scan_interval).</summary>
    public long ScanIntervalNs { get; init; } = 1_000_000_000;
    /// <summary>Scans without an access after which a page on fast memory is cold (cold_after).</summary>
    public int ColdScans { get; init; } = 4;
    /// <summary>The most pages one scan moves, promotions and demotions together (moves_per_scan): the rate limit.</summary>
    public int MovesPerScan { get; init; } = 4096;
    /// <summary>Write-aware (write_aware), HMvisor's aim: a page written since the last scan on a node whose writes cost more than its guest's own node's is promoted though not yet hot, to keep writes off NVM.</summary>
    public bool WriteAware { get; init; }
    /// <summary>
    /// vSphere's memory tiering onto NVMe (promote_on_touch; vSphere 8.0U3 and VCF 9, "Memory Tiering over NVMe"): a
    /// guest touching a page on an NVMe node faults, and the page comes back to the guest's node at once, a cold page
    /// of the last scan leaving that node first if it is full; each scan also demotes cold pages to keep
    /// moves_per_scan frames free there for such touches.
    /// </summary>
    public bool PromoteOnTouch { get; init; }
    /// <summary>
    /// TMO's pressure-driven offloading (pressure_target; <see cref="PressureLimit"/>): the stall on slower memory a
    /// domain may take between two adjustments of the frames it may keep on its own node before that limit backs off
    /// (Senpai's pressure_ms, 10 ms); 0 is off.
    /// </summary>
    public long PressureTargetNs { get; init; }
    /// <summary>Scans between two tightenings of a domain's limit while its stall stays under the target (pressure_probe_every; Senpai's interval, 6).</summary>
    public int PressureProbeEvery { get; init; } = 6;

    /// <summary>The fewest frames pressure-driven offloading leaves a domain on its own node (Senpai's limit_min_bytes, 100 MiB).</summary>
    public long PressureFloorPages { get; init; } = PressureLimit.DefaultFloorPages;

    /// <summary>Senpai's pressure_ms: the target when a way of tiering turns pressure-driven offloading on and the scenario gives none.</summary>
    public const long DefaultPressureTargetNs = 10_000_000;
}
