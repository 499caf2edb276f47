using YamlDotNet.RepresentationModel;

namespace Memvisor.Sim.Sweeps;

/// <summary>
/// A sweep (memvisor sweep SWEEP.yaml): a base scenario and axes, each a scenario key by path and the values it takes,
/// crossed (every combination, the first axis slowest) or zipped (the i-th value of each axis together).
/// </summary>
public sealed record SweepSpec(string Name, string File, string Scenario, string ScenarioText, string ScenarioFile, bool Zip, IReadOnlyList<SweepAxis> Axes)
{
    /// <summary>A density search at every point (sweep key <c>fit</c>); null runs each point once.</summary>
    public SweepFit? Fit { get; init; }

    /// <summary>How many points the sweep has.</summary>
    public long PointCount => Axes.Count == 0 ? 1 : Zip ? Axes[0].Values.Count : Axes.Aggregate(1L, (n, a) => n > long.MaxValue / Math.Max(1, a.Values.Count) ? long.MaxValue : n * a.Values.Count);
}

/// <summary>
/// <c>fit: { domain, max, max_stall }</c>: at each point, the largest count of <paramref name="Domain"/> (up to
/// <paramref name="MaxCount"/>) that meets the service level under the point's policy, as <c>memvisor fit</c> finds it.
/// </summary>
public sealed record SweepFit(string Domain, int MaxCount, double MaxStallShare, int Line, int Column)
{
    /// <summary>The fit as one line, part of each point's content hash.</summary>
    public string Describe => $"fit {Domain} up to {MaxCount}, stall at most {MaxStallShare.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}";
}

/// <summary>One axis: the key path (host.memory, domains[web].count, policy.name, seed), its values as YAML nodes, and where the sweep file gives it.</summary>
public sealed record SweepAxis(string Key, IReadOnlyList<YamlNode> Values, int Line, int Column);
