using Memvisor.Hypervisor.WorkingSet;
using Memvisor.Policy.Esx;
using Memvisor.Policy.HyperV;
using Memvisor.Policy.Mom;
using Memvisor.Policy.Predictive;
using Memvisor.Policy.Squeezed;

namespace Memvisor.Sim.Scenarios;

/// <summary>The policy daemon a scenario runs (scenario key <c>policy</c>), with its interval and settings.</summary>
public sealed record PolicySpec
{
    /// <summary>The policies Memvisor has.</summary>
    public static readonly string[] Names = ["static", "squeezed", "mom", "esx", "hyperv", "predictive"];

    public string Name { get; init; } = "static";
    /// <summary>Whether the scenario named the policy; one it did not name is the host's hypervisor's own, and follows the hypervisor in compare --hypervisors.</summary>
    public bool Named { get; init; } = true;
    public long IntervalNs { get; init; } = 10_000_000_000;
    public SqueezedOptions Squeezed { get; init; } = new();
    public MomOptions Mom { get; init; } = new();
    public EsxOptions Esx { get; init; } = new();
    public HyperVOptions HyperV { get; init; } = new();
    public PredictiveOptions Predictive { get; init; } = new();
    /// <summary>The hypervisor's working-set sampler, which esx reads (sample_period, sample_size).</summary>
    public ActivityOptions Activity { get; init; } = new();
    /// <summary>The program of <c>name: external</c>; null for Memvisor's own policies.</summary>
    public ExternalPolicySpec? External { get; init; }

    /// <summary>A policy outside Memvisor, a program that reads snapshots and answers actions (docs/scenarios.md, "Policies from outside").</summary>
    public const string ExternalName = "external";
}

/// <summary>
/// <c>policy: { name: external, command: [...], timeout }</c>: the program and its arguments, started in the scenario
/// file's directory, and how long it may take over one decision.
/// </summary>
public sealed record ExternalPolicySpec(IReadOnlyList<string> Command, string WorkingDirectory, long TimeoutNs)
{
    public const long DefaultTimeoutNs = 10_000_000_000;

    /// <summary>The command as a user would type it, for messages.</summary>
    public string Display => string.Join(' ', Command);
}
