using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim.Lab;

/// <summary>fit's search and its service level: the count it reports meets the level, one more does not, and it never tries beyond the cap.</summary>
public sealed class DensitySearchTests
{
    // A 512 MiB host with 128 MiB for dom0: 64 MiB static domains, so only a handful can be built.
    private const string Yaml = """
        name: density
        seed: 5
        duration: 2s
        host: { memory: 512MiB, dom0: { memory: 128MiB } }
        domains:
          - { name: vm, memory: 64MiB, allocation: static, workload: { kind: steady, working_set: 16MiB, rate: 1000/s } }
        """;

    private static Scenario Scenario => ScenarioLoader.Parse(Yaml, "density.yaml");

    [Fact]
    public void The_count_found_meets_the_level_and_one_more_does_not()
    {
        var sla = new ServiceLevel();
        var (best, trials) = DensitySearch.Run(Scenario, "vm", "static", sla, maxCount: 64, seed: null);
        Assert.InRange(best, 1, 63);
        Assert.True(trials.Single(t => t.Count == best).Met);
        var next = trials.SingleOrDefault(t => t.Count == best + 1)
            ?? new FitTrial(best + 1, PolicyOutcome.From(new Memvisor.Sim.Engine.Simulation(DensitySearch.WithCount(PolicyLab.WithPolicy(Scenario, "static"), "vm", best + 1)).Run()), false, "");
        Assert.False(sla.IsMet(next.Outcome, out string reason));
        Assert.Contains("did not fit", reason);
        // Doubling first: 1, 2, 4 ... up to the first failure, then only counts between the last success and that failure.
        int firstFail = trials.First(t => !t.Met).Count;
        var doubling = trials.TakeWhile(t => t.Met).Select(t => t.Count).ToList();
        Assert.Equal(Enumerable.Range(0, doubling.Count).Select(i => 1 << i), doubling);
        Assert.All(trials.SkipWhile(t => t.Met).Skip(1), t => Assert.InRange(t.Count, firstFail / 2 + 1, firstFail - 1));
    }

    [Fact]
    public void It_never_tries_more_than_the_cap()
    {
        var (best, trials) = DensitySearch.Run(Scenario, "vm", "static", new ServiceLevel(), maxCount: 3, seed: null);
        Assert.All(trials, t => Assert.InRange(t.Count, 1, 3));
        Assert.InRange(best, 1, 3);
        Assert.Equal(trials.Count, trials.Select(t => t.Count).Distinct().Count());
    }

    [Theory]
    [InlineData(2, 2, 0, 0, 0.010, true, "")]
    [InlineData(2, 1, 0, 0, 0.0, false, "1 of 2 domains did not fit (not created, crashed or OOM-killed)")]
    [InlineData(2, 2, 3, 0, 0.0, false, "3 OOM kill(s)")]
    [InlineData(2, 2, 0, 4, 0.0, false, "4 integrity error(s)")]
    [InlineData(2, 2, 0, 0, 0.0101, false, "stall 1.01% of run time, above 1%")]
    public void The_service_level_names_the_first_thing_that_failed(int vms, int fit, long oomKills, long integrityErrors, double stallShare, bool met, string expected)
    {
        var o = new PolicyOutcome { Name = "static", Hypervisor = "xen", Policy = "static", Vms = vms, VmsFit = fit, OomKills = oomKills, IntegrityErrors = integrityErrors, StallShare = stallShare };
        Assert.Equal(met, new ServiceLevel(0.01).IsMet(o, out string reason));
        Assert.Equal(expected, reason);
    }

    [Fact]
    public void Replicas_created_every_interval_start_one_after_another()
    {
        var staggered = DensitySearch.WithCount(Scenario, "vm", 3, createEveryNs: 500_000_000);
        var created = new Memvisor.Sim.Engine.Simulation(staggered).Run().Summary.Domains
            .Where(d => d.Name.StartsWith("vm-", StringComparison.Ordinal)).ToDictionary(d => d.Name, d => d.CreatedAtS);
        Assert.Equal(new Dictionary<string, double> { ["vm-1"] = 0, ["vm-2"] = 0.5, ["vm-3"] = 1.0 }, created);
        var together = new Memvisor.Sim.Engine.Simulation(DensitySearch.WithCount(Scenario, "vm", 3)).Run().Summary.Domains;
        Assert.All(together.Where(d => d.Name.StartsWith("vm-", StringComparison.Ordinal)), d => Assert.Equal(0, d.CreatedAtS));
    }

    [Fact]
    public void An_action_naming_the_counted_domain_applies_to_each_of_its_copies()
    {
        var withAction = Scenario with { Events = [new ActionSpec(1_000_000_000, ActionKind.MemSet, "vm", 48L << 20, 1)] };
        var three = DensitySearch.WithCount(withAction, "vm", 3);
        Assert.Equal(["vm-1", "vm-2", "vm-3"], three.Events.Select(e => e.Domain));
        var targets = new Memvisor.Sim.Engine.Simulation(three).Run().Summary.Domains.Where(d => d.Name.StartsWith("vm-", StringComparison.Ordinal)).Select(d => d.MemoryKib).ToList();
        Assert.Equal([48 * 1024L, 48 * 1024L, 48 * 1024L], targets);
        // One copy keeps the action as it was.
        Assert.Equal("vm", Assert.Single(DensitySearch.WithCount(withAction, "vm", 1).Events).Domain);
    }
}
