namespace Memvisor.Policy.Snapshot;

/// <summary>One guest domain in a <see cref="HostSnapshot"/>: its reservation, its range and its guest's statistics, in pages (counters are cumulative).</summary>
public sealed record DomainSnapshot
{
    public required string Name { get; init; }
    public int DomId { get; init; }
    /// <summary>Frames the domain holds (tot_pages).</summary>
    public long TotPages { get; init; }
    /// <summary>memory/target.</summary>
    public long TargetPages { get; init; }
    /// <summary>memory/static-max (max_pages).</summary>
    public long StaticMaxPages { get; init; }
    /// <summary>The memory the domain was built with.</summary>
    public long MemoryPages { get; init; }
    /// <summary>DMC's range (squeezed); both equal the built memory unless the scenario sets them.</summary>
    public long DynamicMinPages { get; init; }
    public long DynamicMaxPages { get; init; }
    /// <summary>What the guest reports it holds (memory/current), or tot_pages when it runs no balloon.</summary>
    public long CurrentPages { get; init; }
    /// <summary>Whether the guest runs a balloon driver (control/feature-balloon).</summary>
    public bool FeatureBalloon { get; init; }
    /// <summary>Whether the toolstack has marked it uncooperative.</summary>
    public bool Uncooperative { get; init; }
    public long MemFreePages { get; init; }
    public long MemAvailablePages { get; init; }
    public long CommittedAsPages { get; init; }
    public long MajorFaults { get; init; }
    public long SwapIns { get; init; }
    /// <summary>Simulated time the guest's vCPU waited on memory, in ns.</summary>
    public double StallNs { get; init; }
    /// <summary>Pages the guest's kernel keeps for itself (text, page tables, watermark): its balloon goes no lower.</summary>
    public long FloorPages { get; init; }

    /// <summary>The hypervisor's estimate of the pages the guest touches, by sampling (ESX's working-set estimator); TotPages until a sample period has passed.</summary>
    public long ActivePages { get; init; }
    /// <summary>The guest's miss-ratio curve as its agent reports it; null when it does not track one.</summary>
    public MissCurve? Mrc { get; init; }

    /// <summary>Whether the guest can be hot-added memory, and how much beyond its boot memory it has been asked to plug.</summary>
    public bool HotplugEnabled { get; init; }
    public long HotplugRequestedPages { get; init; }

    /// <summary>ESX: memory shares (default 10 per MiB of memory), reservation and limit (default dynamic-min, and dynamic-max or else maxmem).</summary>
    public long Shares { get; init; }
    public long ReservationPages { get; init; }
    public long LimitPages { get; init; }

    /// <summary>Hyper-V Dynamic Memory: minimum and maximum RAM (default dynamic-min, and dynamic-max or else maxmem), memory buffer (% above demand, default 20) and memory weight (0..10000, default 5000). Startup RAM is MemoryPages.</summary>
    public long MinimumPages { get; init; }
    public long MaximumPages { get; init; }
    public int BufferPercent { get; init; } = 20;
    public int Weight { get; init; } = 5000;
}
