using Memvisor.Sim.Lab;

namespace Memvisor.Sim.Sweeps;

/// <summary>One axis's value at a point.</summary>
public sealed record SweepValue(string Key, string Value);

/// <summary>point.json, beside a point's run files: which point it is and its headline figures (the same as compare's).</summary>
public sealed record SweepPointRecord(long Index, string Hash, IReadOnlyList<SweepValue> Values, PolicyOutcome Outcome)
{
    /// <summary>With the sweep's fit: the largest count of its domain that met the service level (0 if not even one), the outcome being that count's run (or the first tried, when none met).</summary>
    public int? Density { get; init; }
}

/// <summary>sweep.json: the sweep, its axes and every point's record in index order.</summary>
public sealed record SweepSummary(string Sweep, string Scenario, string Mode, IReadOnlyList<string> Axes, long Points, IReadOnlyList<SweepPointRecord> Results)
{
    /// <summary>The density search run at every point, when the sweep has one.</summary>
    public SweepFitSummary? Fit { get; init; }
}

/// <summary>A sweep's fit: the domain counted, the largest count tried, the stall limit of the service level.</summary>
public sealed record SweepFitSummary(string Domain, int Max, double MaxStall);
