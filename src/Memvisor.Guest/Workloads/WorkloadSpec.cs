namespace Memvisor.Guest.Workloads;

/// <summary>A workload as a scenario describes it.</summary>
public sealed record WorkloadSpec
{
    public required string Kind { get; init; }
    /// <summary>steady: pages in the working set.</summary>
    public long WorkingSetPages { get; init; }
    /// <summary>Accesses per simulated second (steady; grow touches its pages at this rate too).</summary>
    public double RatePerSecond { get; init; }
    /// <summary>Share of accesses that are writes.</summary>
    public double WriteFraction { get; init; } = 0.3;
    /// <summary>grow: the size to reach.</summary>
    public long ToPages { get; init; }
    /// <summary>grow: how long it takes to reach it.</summary>
    public long OverNs { get; init; }

    public static readonly IReadOnlyList<string> Kinds = ["idle", "steady", "grow"];

    public IWorkload Create() => Kind switch
    {
        "idle" => new IdleWorkload(),
        "steady" => new SteadyWorkload(WorkingSetPages, RatePerSecond, WriteFraction),
        "grow" => new GrowWorkload(ToPages, OverNs, RatePerSecond, WriteFraction),
        _ => throw new ArgumentException($"There is no workload kind '{Kind}'; the kinds are {string.Join(", ", Kinds)}.", nameof(Kind)),
    };
}
