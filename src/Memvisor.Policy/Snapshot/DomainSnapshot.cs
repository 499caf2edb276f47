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
}
