using Memvisor.Sim.Engine;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

/// <summary>The guest tiering its own NUMA nodes (guest.tiering): demotion in reclaim and NUMA balancing's promotion, with every read checked.</summary>
public class GuestTieringTests
{
    // One guest of the guest-tiering built-in, 20 s, its reads checked against what it wrote.
    private static Scenario Scenario() =>
        ScenarioLoader.Parse(BuiltinScenarios.Text("guest-tiering").Replace("duration: 60s", "duration: 20s").Replace("    count: 3\n", "")
            .Replace("    memory: 1GiB\n    workload:", "    memory: 1GiB\n    guest: { check_integrity: true }\n    workload:"), "t.yaml");

    private static ScenarioError Refused(string yaml) => Assert.Single(Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(yaml, "t.yaml")).Errors);

    [Fact]
    public void The_guest_moves_its_hot_pages_to_its_local_node_and_its_cold_ones_away_and_reads_back_what_it_wrote()
    {
        var scenario = Scenario();
        var znuma = new Simulation(TieringLab.With(scenario, TieringLab.Znuma, [], out _)!).Run();
        var guest = new Simulation(TieringLab.With(scenario, TieringLab.GuestTiering, [], out _)!).Run();
        double Nvm(RunResult r) => r.Summary.Host.Tiers!.Single(t => t.Kind == "nvm").AccessShare;
        var t = guest.Summary.Domains.Single(d => d.Name == "vm").Guest!.Tiering!;
        Assert.True(t.Promoted > 1000 && t.Demoted > 1000 && t.HintFaults >= t.Promoted, $"{t}");
        Assert.True(Nvm(guest) < 0.8 * Nvm(znuma), $"NVM served {Nvm(guest):P1} of the accesses with the guest tiering, {Nvm(znuma):P1} without");
        Assert.Null(znuma.Summary.Domains.Single(d => d.Name == "vm").Guest!.Tiering);
        foreach (var r in new[] { znuma, guest })
        {
            var g = r.Summary.Domains.Single(d => d.Name == "vm").Guest!;
            Assert.True(g.IntegrityChecks > 100_000 && g.IntegrityViolations == 0, $"{g.IntegrityChecks} checked reads, {g.IntegrityViolations} wrong");
            Assert.True(g.MeminfoAddsUp);
        }
    }

    [Fact]
    public void Guest_tiering_needs_virtual_NUMA_nodes()
    {
        string yaml = BuiltinScenarios.Text("guest-tiering").Replace("    memory: 1GiB\n    workload:", "    memory: 1GiB\n    guest: { tiering: true }\n    workload:");
        Assert.Equal("domains[0].guest.tiering", Refused(yaml).Field);
    }
}
