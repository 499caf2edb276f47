using Memvisor.Tests.Support;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

/// <summary>vSphere's memory tiering onto NVMe (host.tiering.promote_on_touch): a page touched on NVMe comes back to DRAM at once.</summary>
public class NvmeTieringTests
{
    private static string Example() =>
        BuiltinScenarios.Text("nvme-tiering").Replace("duration: 60s", "duration: 30s");

    private static ScenarioError Refused(string yaml) => Assert.Single(Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(yaml, "t.yaml")).Errors);

    // NVMe's accesses and all accesses over the run's last 10 s.
    private static (long Slow, long All) LastTenSeconds(RunResult r)
    {
        long slow = RunFigures.NodeAccessesOverLast(r, 1, 10);
        return (slow, slow + RunFigures.NodeAccessesOverLast(r, 0, 10));
    }

    [Fact]
    public void Pages_touched_on_nvme_come_back_to_dram_and_the_guests_do_more_work_than_with_scans_alone()
    {
        var touch = new Simulation(ScenarioLoader.Parse(Example(), "t.yaml")).Run();
        var scans = new Simulation(ScenarioLoader.Parse(Example().Replace(", promote_on_touch: true", ""), "t.yaml")).Run();
        var t = touch.Summary.Host.Tiering!;
        Assert.True(t.TouchPromoted > 10_000 && t.Promoted >= t.TouchPromoted, $"{t}");
        Assert.Equal(0, scans.Summary.Host.Tiering!.TouchPromoted);
        double Nvme(RunResult r) => r.Summary.Host.Tiers!.Single(x => x.Kind == "nvme").AccessShare;
        long Work(RunResult r) => r.Summary.Domains.Where(d => d.Name.StartsWith("vm", StringComparison.Ordinal)).Sum(d => d.Guest!.Accesses);
        Assert.True(Nvme(touch) < 0.5 * Nvme(scans), $"NVMe served {Nvme(touch):P1} of the accesses with promote_on_touch, {Nvme(scans):P1} with scans alone");
        Assert.True(Work(touch) > Work(scans), $"{Work(touch)} accesses with promote_on_touch, {Work(scans)} with scans alone");
        // Once the active pages are home, NVMe serves almost nothing; with scans alone it still serves a share.
        var (slow, all) = LastTenSeconds(touch);
        var (slowScans, allScans) = LastTenSeconds(scans);
        Assert.True(slow < 0.001 * all && slowScans > 0.01 * allScans, $"last 10 s: {slow} of {all} on NVMe with promote_on_touch, {slowScans} of {allScans} with scans alone");
        Assert.True(touch.AccountingHeld);
    }

    private const string TwoSockets = """
        name: two
        seed: 12
        duration: 12s
        host:
          dom0: { memory: 256MiB }
          nodes:
            - { kind: dram, memory: 1GiB }
            - { kind: dram, memory: 800MiB }
            - { kind: nvme, memory: 4GiB }
          tiering: { scan_interval: 1s, cold_after: 2, moves_per_scan: 16384, promote_on_touch: true }
        domains:
          - name: a
            memory: 1152MiB
            cpus: "node:0"
            workload: { kind: zipf, working_set: 128MiB, rate: 20000/s, write_fraction: 0.3 }
          - name: b
            memory: 1152MiB
            cpus: "node:1"
            workload: { kind: zipf, working_set: 128MiB, rate: 20000/s, write_fraction: 0.3 }
        """;

    [Fact]
    public void With_two_dram_nodes_the_room_for_touches_is_made_on_nvme_and_held_on_both()
    {
        var on = new Simulation(ScenarioLoader.Parse(TwoSockets, "t.yaml")).Run();
        // Touches promote in their domain's turn, and a full node's room may be another domain's page: the same run on two lanes.
        var lanes = new Simulation(ScenarioLoader.Parse(TwoSockets, "t.yaml"), threads: 2).Run();
        Assert.Equal(RunFigures.SummaryBytes(on), RunFigures.SummaryBytes(lanes));
        var off = new Simulation(ScenarioLoader.Parse(TwoSockets.Replace(", promote_on_touch: true", ""), "t.yaml")).Run();
        var t = on.Summary.Host.Tiering!;
        var nodes = on.Summary.Host.Nodes!;
        // Each DRAM node keeps a scan's moves free for the touches; a cold page leaving one never lands on the other.
        Assert.True(nodes[0].FreePagesEnd >= 16384 && nodes[1].FreePagesEnd >= 16384, $"free {nodes[0].FreePagesEnd} and {nodes[1].FreePagesEnd}");
        long nvmeGain = nodes[2].DomainPagesEnd - off.Summary.Host.Nodes![2].DomainPagesEnd;
        Assert.True(t.TouchPromoted > 0 && t.Demoted > 0, $"{t}");
        Assert.Equal(t.Demoted - t.Promoted, nvmeGain);
        Assert.Equal(t.Demoted + t.Promoted, on.Summary.Host.PageMigrations!.Migrated);
    }

    [Fact]
    public void An_nvme_node_may_be_sized_as_a_share_of_the_hosts_dram_as_vsphere_does()
    {
        string Host(string nvme) => $$"""
            name: s
            duration: 1s
            host:
              dom0: { memory: 256MiB }
              nodes:
                - { kind: dram, memory: 1GiB }
                - { kind: dram, memory: 1GiB }
                - { kind: nvme, memory: {{nvme}} }
            domains:
              - { name: vm, memory: 512MiB, workload: { kind: idle } }
            """;
        long NvmeFrames(string nvme) => ScenarioLoader.Parse(Host(nvme), "s.yaml").Host.Nodes![2].Frames;
        // Of the host's 2 GiB of DRAM: 25% (the tech preview's ratio) and 100% (GA's 1:1), in whole pages.
        Assert.Equal(512L * 256, NvmeFrames("25%"));
        Assert.Equal(2048L * 256, NvmeFrames("100%"));
        Assert.Equal(768L * 256, NvmeFrames("37.5%"));
        var spec = ScenarioLoader.Parse(Host("100%"), "s.yaml").Host;
        Assert.Equal(4096L << 20, spec.MemoryBytes);
        foreach (var bad in new[] { "0%", "401%", "many%" })
            Assert.Equal("host.nodes[2].memory", Refused(Host(bad)).Field);
        Assert.Equal("host.nodes[1].memory", Refused(Host("1GiB").Replace("- { kind: dram, memory: 1GiB }\n    - { kind: nvme", "- { kind: dram, memory: 50% }\n    - { kind: nvme")).Field);
    }

    [Fact]
    public void Room_made_between_scans_costs_the_demoted_pages_domain_a_shootdown_of_its_own()
    {
        // A reserve of 16 frames a scan: most touches find DRAM full and a cold page of the last scan leaves first.
        const string yaml = """
            name: room
            seed: 4
            duration: 20s
            host:
              hypervisor: esx
              dom0: { memory: 256MiB }
              nodes:
                - { kind: dram, memory: 800MiB }
                - { kind: nvme, memory: 2GiB }
              tiering: { scan_interval: 1s, cold_after: 2, moves_per_scan: 16, promote_on_touch: true }
            domains:
              - name: vm
                memory: 1GiB
                workload:
                  kind: mix
                  parts:
                    - { kind: steady, working_set: 500MiB, rate: 100/s }
                    - { kind: zipf, working_set: 300MiB, rate: 50000/s, write_fraction: 0.3 }
            """;
        var r = new Simulation(ScenarioLoader.Parse(yaml, "t.yaml")).Run();
        var t = r.Summary.Host.Tiering!;
        var moves = r.Summary.Host.PageMigrations!;
        Assert.True(t.TouchPromoted > 0 && t.TouchRefused > 0, $"{t}");
        // Each scan shoots down its two one-vCPU domains once; every demotion between scans adds one of its own.
        long fromScans = 2 * t.Scans;
        Assert.True(moves.Shootdowns > fromScans && moves.Shootdowns - fromScans <= t.Demoted, $"{moves.Shootdowns} shootdowns, {t.Scans} scans, {t.Demoted} demotions");
    }

    [Fact]
    public void Promote_on_touch_needs_an_nvme_node_and_a_boolean()
    {
        string cxl = Example().Replace("kind: nvme", "kind: cxl");
        Assert.Equal("host.tiering.promote_on_touch", Refused(cxl).Field);
        Assert.Equal("host.tiering.promote_on_touch", Refused(Example().Replace("promote_on_touch: true", "promote_on_touch: often")).Field);
    }
}
