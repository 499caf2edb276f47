using Memvisor.Sim.Lab;

namespace Memvisor.Sim.Sweeps;

/// <summary>One axis's value at a point.</summary>
public sealed record SweepValue(string Key, string Value);

/// <summary>point.json, beside a point's run files: which point it is and its headline figures (the same as compare's).</summary>
public sealed record SweepPointRecord(long Index, string Hash, IReadOnlyList<SweepValue> Values, PolicyOutcome Outcome);

/// <summary>sweep.json: the sweep, its axes and every point's record in index order.</summary>
public sealed record SweepSummary(string Sweep, string Scenario, string Mode, IReadOnlyList<string> Axes, long Points, IReadOnlyList<SweepPointRecord> Results);
