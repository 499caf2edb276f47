using Memvisor.Machine.Tiers;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

/// <summary>The scenarios compare --tiering runs: each way of tiering sets the host's tiering, and all-dram keeps the memory but makes it DRAM.</summary>
public sealed class TieringLabTests
{
    // DRAM nodes on both sides of a CXL node, a guest pinned to the second DRAM node and an event moving pages to CXL.
    private const string TwoDram = """
        name: two-dram
        duration: 2s
        host:
          hypervisor: kvm
          dom0: { memory: 128MiB }
          nodes:
            - { kind: dram, memory: 512MiB }
            - { kind: cxl, memory: 512MiB }
            - { kind: dram, memory: 1GiB }
          tiering: { scan_interval: 2s, cold_after: 5, moves_per_scan: 100 }
        domains:
          - { name: a, memory: 256MiB, cpus: "node:2", workload: { kind: steady, working_set: 64MiB, rate: 1000/s } }
        events:
          - { at: 1s, action: migratepages, domain: a, node: 1 }
          - { at: 1s, action: migratepages, domain: a, node: 2 }
        """;

    [Fact]
    public void All_dram_grows_each_DRAM_node_by_its_share_of_the_slower_memory_and_renumbers_what_names_nodes()
    {
        var notes = new List<string>();
        var s = TieringLab.With(ScenarioLoader.Parse(TwoDram, "t.yaml"), TieringLab.AllDram, notes, out string? error);
        Assert.Null(error);
        var nodes = s!.Host.Nodes!;
        Assert.All(nodes, n => Assert.Equal(MemoryKind.Dram, n.Kind));
        // 512 MiB of CXL shared 1:2 between the 512 MiB and 1 GiB DRAM nodes; the total stays 2 GiB.
        Assert.Equal([(512 + 170) * 256L + 170, (1024 + 341) * 256L + 86], nodes.Select(n => n.Frames));
        Assert.Equal(2048 * 256L, nodes.Sum(n => n.Frames));
        Assert.Equal(2, s.Host.NumaNodes);
        Assert.False(s.Host.Overcommit.Tiering.Enabled);
        Assert.Equal(1, s.Domains[0].CpuNode);
        // The move to CXL has no node to go to; the move to the second DRAM node goes to its new number.
        Assert.Equal(1, Assert.Single(s.Events).Node);
        Assert.Equal(2, notes.Count);
        // It runs, and the pinned guest's pages come from its node under the new number.
        var r = new Simulation(s).Run();
        Assert.Equal(0, r.IntegrityErrors);
        Assert.True(r.Summary.Host.Nodes![1].DomainPagesEnd >= 64 * 256, $"{r.Summary.Host.Nodes[1].DomainPagesEnd} pages on node 1");
    }

    [Theory]
    [InlineData("none", false, false, false, 0)]
    [InlineData("transparent", true, false, false, 0)]
    [InlineData("write-aware", true, true, false, 0)]
    // TMO: Senpai's 10 ms unless the scenario gives a target; no NVMe here, so nothing comes back on a touch.
    [InlineData("pressure", true, false, false, 10_000_000)]
    public void Each_way_sets_the_host_s_tiering_and_keeps_its_scanner_settings(string name, bool enabled, bool writeAware, bool onTouch, long pressureNs)
    {
        var s = TieringLab.With(ScenarioLoader.Parse(TwoDram, "t.yaml"), name, [], out _)!;
        var t = s.Host.Overcommit.Tiering;
        Assert.Equal((enabled, writeAware, onTouch, pressureNs), (t.Enabled, t.WriteAware, t.PromoteOnTouch, t.PressureTargetNs));
        Assert.Equal((2_000_000_000L, 5, 100), (t.ScanIntervalNs, t.ColdScans, t.MovesPerScan));
        Assert.Equal(3, s.Host.Nodes!.Count);
    }

    [Fact]
    public void Other_ways_turn_a_scenario_s_offloading_off_and_pressure_keeps_its_target()
    {
        var tmo = BuiltinScenarios.Load("tmo");
        Assert.Equal(10_000_000, tmo.Host.Overcommit.Tiering.PressureTargetNs);
        foreach (var name in new[] { "transparent", "write-aware", "nvme-tier" })
            Assert.Equal(0, TieringLab.With(tmo, name, [], out _)!.Host.Overcommit.Tiering.PressureTargetNs);
        var pressure = TieringLab.With(tmo with { Host = tmo.Host with { Overcommit = tmo.Host.Overcommit with { Tiering = tmo.Host.Overcommit.Tiering with { PressureTargetNs = 3_000_000 } } } },
            "pressure", [], out _)!.Host.Overcommit.Tiering;
        Assert.Equal((3_000_000L, true, 0), (pressure.PressureTargetNs, pressure.PromoteOnTouch, pressure.PressureProbeEvery));
    }

    [Fact]
    public void All_dram_keeps_virtual_nodes_that_are_all_on_DRAM_under_their_new_numbers()
    {
        string yaml = TwoDram.Replace("cpus: \"node:2\",", "vnuma: [ { pnode: 2, memory: 128MiB }, { pnode: 0, memory: 128MiB } ],");
        var s = TieringLab.With(ScenarioLoader.Parse(yaml, "t.yaml"), TieringLab.AllDram, [], out _)!;
        Assert.Equal([1, 0], s.Domains[0].Vnuma!.Select(v => v.Pnode));
        Assert.Equal(1, s.Domains[0].CpuNode);
    }
}
