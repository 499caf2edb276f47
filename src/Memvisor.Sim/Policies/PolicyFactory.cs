using Memvisor.Policy;
using Memvisor.Policy.Mom;
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
        _ => new StaticPolicy(spec.IntervalNs),
    };
}
