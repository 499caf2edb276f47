using Memvisor.Policy;
using Memvisor.Policy.Esx;
using Memvisor.Policy.HyperV;
using Memvisor.Policy.Mom;
using Memvisor.Policy.Predictive;
using Memvisor.Policy.Squeezed;
using Memvisor.Policy.Static;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Sim.Policies;

/// <summary>Makes the policy daemon a scenario names.</summary>
public static class PolicyFactory
{
    public static IPolicy Create(PolicySpec spec) => spec.Name switch
    {
        "squeezed" => new SqueezedPolicy(spec.Squeezed, spec.IntervalNs),
        "mom" => new MomPolicy(spec.Mom, spec.IntervalNs),
        "esx" => new EsxPolicy(spec.Esx, spec.IntervalNs),
        "hyperv" => new HyperVPolicy(spec.HyperV, spec.IntervalNs),
        "predictive" => new PredictivePolicy(spec.Predictive, spec.IntervalNs),
        PolicySpec.ExternalName when spec.External is { } external => new ExternalPolicy(external, spec.IntervalNs),
        _ => new StaticPolicy(spec.IntervalNs),
    };
}
