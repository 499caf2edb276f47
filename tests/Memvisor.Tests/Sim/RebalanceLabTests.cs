using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

/// <summary>The built-in rebalance scenario, cut to 30 s: the policies that move memory beat static, and predictive beats them at equal density.</summary>
public class RebalanceLabTests
{
    [Fact]
    public void Predictive_stalls_least_on_rebalance_with_every_guest_fitting_under_every_policy()
    {
        var scenario = BuiltinScenarios.Load("rebalance") with { DurationNs = 30_000_000_000 };
        string[] policies = ["static", "squeezed", "hyperv", "predictive"];
        var outcomes = PolicyLab.Run(scenario, policies, null, 2).Select(r => PolicyOutcome.From(r.Result)).ToDictionary(o => o.Policy);

        foreach (var o in outcomes.Values)
        {
            Assert.Equal(o.Vms, o.VmsFit);
            Assert.Equal(0, o.OomKills);
        }
        // loop thrashes in its own swap under static for the whole run; every range policy gives it memory (seconds of stall saved).
        Assert.True(outcomes["squeezed"].StallS < outcomes["static"].StallS - 3, Describe(outcomes));
        Assert.True(outcomes["hyperv"].StallS < outcomes["static"].StallS - 3, Describe(outcomes));
        // predictive's curves show loop's cliff at the first decision and it grants from free memory at once.
        foreach (var other in new[] { "static", "squeezed", "hyperv" })
            Assert.True(outcomes["predictive"].StallS < outcomes[other].StallS, Describe(outcomes));
    }

    private static string Describe(Dictionary<string, PolicyOutcome> o) =>
        string.Join(", ", o.Values.Select(v => $"{v.Policy} {v.StallS} s"));
}
