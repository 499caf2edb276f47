using YamlDotNet.RepresentationModel;

namespace Memvisor.Sim.Sweeps;

/// <summary>
/// A sweep (memvisor sweep SWEEP.yaml): a base scenario and axes, each a scenario key by path and the values it takes,
/// crossed (every combination, the first axis slowest) or zipped (the i-th value of each axis together).
/// </summary>
public sealed record SweepSpec(string Name, string File, string Scenario, string ScenarioText, string ScenarioFile, bool Zip, IReadOnlyList<SweepAxis> Axes)
{
    /// <summary>How many points the sweep has.</summary>
    public long PointCount => Axes.Count == 0 ? 1 : Zip ? Axes[0].Values.Count : Axes.Aggregate(1L, (n, a) => n > long.MaxValue / Math.Max(1, a.Values.Count) ? long.MaxValue : n * a.Values.Count);
}

/// <summary>One axis: the key path (host.memory, domains[web].count, policy.name, seed), its values as YAML nodes, and where the sweep file gives it.</summary>
public sealed record SweepAxis(string Key, IReadOnlyList<YamlNode> Values, int Line, int Column);
