using Memvisor.Policy.Mom;
using Memvisor.Policy.Squeezed;

namespace Memvisor.Sim.Scenarios;

/// <summary>The policy daemon a scenario runs (scenario key <c>policy</c>), with its interval and settings.</summary>
public sealed record PolicySpec
{
    /// <summary>The policies Memvisor has.</summary>
    public static readonly string[] Names = ["static", "squeezed", "mom"];

    public string Name { get; init; } = "static";
    public long IntervalNs { get; init; } = 10_000_000_000;
    public SqueezedOptions Squeezed { get; init; } = new();
    public MomOptions Mom { get; init; } = new();
}
