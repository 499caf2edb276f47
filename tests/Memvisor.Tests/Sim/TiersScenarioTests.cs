using Memvisor.Machine.Tiers;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

/// <summary>A tiered host in a scenario (host.nodes): its keys and their refusals, and a run's per-node and per-tier figures.</summary>
public class TiersScenarioTests
{
    private const string Tiered = """
        name: t
        seed: 3
        duration: 4s
        host:
          dom0: { memory: 256MiB }
          nodes:
            - { kind: dram, memory: 1GiB }
            - { kind: cxl, memory: 512MiB }
            - { kind: nvm, memory: 1GiB, read_ns: 400 }
        domains:
          - name: app
            count: 2
            memory: 640MiB
            workload: { kind: steady, working_set: 512MiB, rate: 100000/s, write_fraction: 0.3 }
        """;

    private static ScenarioError Refused(string yaml) => Assert.Single(Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(yaml, "t.yaml")).Errors);

    [Fact]
    public void Nodes_bind_with_their_kinds_costs_and_sizes_and_bad_ones_are_refused_by_field()
    {
        var host = ScenarioLoader.Parse(Tiered, "t.yaml").Host;
        Assert.Equal(2560L << 20, host.MemoryBytes);
        Assert.Equal(3, host.NumaNodes);
        Assert.Equal([MemoryKind.Dram, MemoryKind.Cxl, MemoryKind.Nvm], host.Nodes!.Select(n => n.Kind));
        Assert.Equal((400.0, TierDefaults.Nvm.WriteNs), (host.Nodes![2].Costs.ReadNs, host.Nodes[2].Costs.WriteNs));

        Assert.Equal("host.numa_nodes", Refused(Tiered.Replace("  nodes:", "  numa_nodes: 2\n  nodes:")).Field);
        Assert.Equal("host.nodes[0].kind", Refused(Tiered.Replace("{ kind: dram, memory: 1GiB }", "{ kind: nvm, memory: 1GiB }")).Field);
        Assert.Equal("host.nodes[1].kind", Refused(Tiered.Replace("kind: cxl", "kind: hbm")).Field);
        Assert.Equal("host.nodes[1].memory", Refused(Tiered.Replace("memory: 512MiB", "memory: 1MiB")).Field);
        Assert.Equal("host.nodes[2].latency", Refused(Tiered.Replace("read_ns: 400", "latency: 400")).Field);
        var sum = Refused(Tiered.Replace("  dom0:", "  memory: 4GiB\n  dom0:"));
        Assert.Equal("host.memory", sum.Field);
        Assert.Contains("sum of its nodes", sum.Message);
        var small = Refused(Tiered.Replace("{ kind: dram, memory: 1GiB }", "{ kind: dram, memory: 200MiB }"));
        Assert.Equal("host.nodes[0].memory", small.Field);
        Assert.Contains("dom0's 256MiB", small.Message);
        Assert.Equal("host.nodes[1].memory", Refused(Tiered.Replace("memory: 512MiB", "memory: 524289KiB")).Field);
        // A bad node does not hide the host's other errors.
        var both = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(Tiered.Replace("kind: cxl", "kind: hbm").Replace("dom0: { memory: 256MiB }", "dom0: { memory: 1MiB }"), "t.yaml"));
        Assert.Equal(["host.nodes[1].kind", "host.dom0.memory"], both.Errors.Select(e => e.Field).Order(StringComparer.Ordinal).Reverse());
        // Given and equal to the nodes' sum, memory is accepted.
        Assert.Equal(2560L << 20, ScenarioLoader.Parse(Tiered.Replace("  dom0:", "  memory: 2560MiB\n  dom0:"), "t.yaml").Host.MemoryBytes);
    }

    [Fact]
    public void A_run_counts_each_nodes_accesses_and_charges_what_the_slower_tiers_cost()
    {
        var r = new Simulation(ScenarioLoader.Parse(Tiered, "t.yaml")).Run();
        var nodes = r.Summary.Host.Nodes!;
        var tiers = r.Summary.Host.Tiers!;
        Assert.Equal(["dram", "cxl", "nvm"], nodes.Select(n => n.Kind));
        // DRAM filled before the others; the guests' pages spill onto CXL, then NVM.
        Assert.True(nodes[0].FreePagesEnd < 1024 && nodes[1].DomainPagesEnd > 0, $"dram free {nodes[0].FreePagesEnd}, cxl guest pages {nodes[1].DomainPagesEnd}");
        // Every node's extra time is its reads and writes at what they cost beyond local DRAM (81 ns).
        double Extra(int n, double read, double write) => (nodes[n].Reads * (read - 81) + nodes[n].Writes * Math.Max(0, write - 81)) / 1e6;
        Assert.Equal(0, nodes[0].ExtraAccessMs);
        Assert.Equal(Extra(1, 161, 161), nodes[1].ExtraAccessMs, 2);
        Assert.Equal(Extra(2, 400, 94), nodes[2].ExtraAccessMs, 2);
        Assert.True(nodes[1].Reads + nodes[2].Reads > 0);
        Assert.Equal(1, tiers.Sum(t => t.AccessShare), 4);
        // The guests paid that time: they ran slower than on a host of DRAM alone.
        var flat = new Simulation(ScenarioLoader.Parse(Tiered.Replace("""
              nodes:
                - { kind: dram, memory: 1GiB }
                - { kind: cxl, memory: 512MiB }
                - { kind: nvm, memory: 1GiB, read_ns: 400 }
            """, "  memory: 2560MiB\n"), "t.yaml")).Run();
        Assert.Null(flat.Summary.Host.Nodes);
        double Stall(RunResult x) => x.Summary.Domains.Where(d => d.Guest is not null).Sum(d => d.Guest!.StallMs);
        Assert.True(Stall(r) > Stall(flat) + 0.5 * nodes.Sum(n => n.ExtraAccessMs), $"tiered stall {Stall(r)} ms, flat {Stall(flat)} ms");
    }

    [Fact]
    public void A_host_of_dram_nodes_alone_costs_what_an_untiered_one_does()
    {
        string one = Tiered.Replace("""
                - { kind: cxl, memory: 512MiB }
                - { kind: nvm, memory: 1GiB, read_ns: 400 }
            """, "").Replace("memory: 1GiB }", "memory: 2560MiB }");
        var tiered = new Simulation(ScenarioLoader.Parse(one, "t.yaml")).Run();
        var flat = new Simulation(ScenarioLoader.Parse(one.Replace("""
              nodes:
                - { kind: dram, memory: 2560MiB }
            """, "  memory: 2560MiB\n"), "t.yaml")).Run();
        Assert.Equal(0, Assert.Single(tiered.Summary.Host.Nodes!).ExtraAccessMs);
        Assert.Equal(flat.Summary.Domains.Select(d => (d.Name, d.Guest?.StallMs, d.Guest?.Accesses)), tiered.Summary.Domains.Select(d => (d.Name, d.Guest?.StallMs, d.Guest?.Accesses)));
        // DRAM given a slower read costs its own guests what it adds beyond the reference DRAM.
        var slow = new Simulation(ScenarioLoader.Parse(one.Replace("memory: 2560MiB }", "memory: 2560MiB, read_ns: 181 }"), "t.yaml")).Run();
        var node = Assert.Single(slow.Summary.Host.Nodes!);
        Assert.Equal(node.Reads * 100 / 1e6, node.ExtraAccessMs, 2);
        Assert.True(node.Reads > 0);
    }

    private const string Kvm = """
        name: m
        seed: 4
        duration: 4s
        host:
          hypervisor: kvm
          nodes:
            - { kind: dram, memory: 2GiB }
            - { kind: cxl, memory: 2GiB }
        domains:
          - name: app
            memory: 512MiB
            workload: { kind: steady, working_set: 384MiB, rate: 100000/s, write_fraction: 0.3 }
        events:
          - { at: 2s, action: migratepages, domain: app, node: 1 }
        """;

    [Fact]
    public void Migratepages_moves_a_guests_memory_to_a_node_and_its_accesses_follow()
    {
        var r = new Simulation(ScenarioLoader.Parse(Kvm, "t.yaml")).Run();
        var host = r.Summary.Host;
        var moves = host.PageMigrations!;
        // Every page the guest had on DRAM went to CXL: demotions, and one shootdown per vCPU for the batch.
        Assert.True(moves.Migrated > 10_000 && moves.Demoted == moves.Migrated && moves.Promoted == 0, $"{moves}");
        Assert.Equal(1, moves.Shootdowns); // one for the batch, on its one vCPU
        Assert.True(host.Nodes![1].DomainPagesEnd >= moves.Migrated && host.Nodes[1].Reads > 0 && host.Nodes[1].ExtraAccessMs > 0);
        // Of the guest's pages, DRAM keeps only those it touched first after the move (frames come from its CPU node).
        Assert.True(host.Nodes[0].DomainPagesEnd - host.Dom0Pages < host.Nodes[1].DomainPagesEnd);
        Assert.Contains(r.Summary.HostEvents, e => e.Mechanism == "migratepages" && e.Message.StartsWith($"{moves.Migrated} page(s) of app moved to node 1", StringComparison.Ordinal));

        // A node the host lacks at run time (the guest moved to an untiered host first) is refused once, not per page.
        var moved = new Simulation(ScenarioLoader.Parse("""
            name: m2
            duration: 4s
            hosts:
              - name: a
                hypervisor: kvm
                nodes: [ { kind: dram, memory: 2GiB }, { kind: cxl, memory: 2GiB } ]
                link: { bandwidth: 10GiB/s }
              - { name: b, hypervisor: kvm, memory: 4GiB, link: { bandwidth: 10GiB/s } }
            domains:
              - { name: app, host: a, memory: 512MiB, workload: { kind: steady, working_set: 384MiB, rate: 100000/s } }
            events:
              - { at: 1s, action: migrate, domain: app, to: b }
              - { at: 3s, action: migratepages, domain: app, node: 1 }
            """, "t.yaml")).Run();
        Assert.Equal(1, moved.Summary.Hosts![1].PageMigrations!.Refused);
        Assert.Equal(1, moved.Summary.ErrorsTotal);

        Assert.Equal("events[0].action", Refused(Kvm.Replace("hypervisor: kvm", "hypervisor: xen")).Field);
        Assert.Equal("events[0].node", Refused(Kvm.Replace("node: 1 }", "node: 2 }")).Field);
        Assert.Equal("events[0].node", Refused(Kvm.Replace(", node: 1 }", " }")).Field);
        Assert.Equal("events[0].node", Refused(Kvm.Replace("action: migratepages, domain: app, node: 1", "action: destroy, domain: app, node: 1")).Field);
        Assert.Equal("events[0].domain", Refused(Kvm.Replace("domain: app, node", "domain: web, node")).Field);
    }

    private const string Sockets = """
        name: s
        seed: 6
        duration: 3s
        host:
          dom0: { memory: 256MiB }
          nodes:
            - { kind: dram, memory: 1GiB }
            - { kind: dram, memory: 1GiB }
            - { kind: cxl, memory: 1GiB }
        domains:
          - name: near
            memory: 512MiB
            cpus: "node:1"
            workload: { kind: steady, working_set: 448MiB, rate: 100000/s, write_fraction: 0.3 }
        """;

    [Fact]
    public void Cpus_pins_a_domain_to_a_node_whose_memory_it_takes_first()
    {
        var r = new Simulation(ScenarioLoader.Parse(Sockets, "t.yaml")).Run();
        var nodes = r.Summary.Host.Nodes!;
        // Its pages come from node 1, where its vCPUs run: local, so nothing extra; dom0's stay on node 0.
        Assert.Equal(r.Summary.Host.Dom0Pages, nodes[0].DomainPagesEnd);
        Assert.True(nodes[1].DomainPagesEnd > 100_000 && nodes[1].Reads > 0 && nodes[1].ExtraAccessMs == 0, $"{nodes[1]}");
        // Pinned to node 0 instead, its pages spill from there to the cheapest other node: CXL (80 ns beyond DRAM) before
        // node 1's DRAM (81 ns remote), and it pays for those.
        var far = new Simulation(ScenarioLoader.Parse(Sockets.Replace("cpus: \"node:1\"", "cpus: \"node:0\"").Replace("memory: 512MiB", "memory: 900MiB").Replace("working_set: 448MiB", "working_set: 880MiB"), "t.yaml")).Run();
        var fn = far.Summary.Host.Nodes!;
        Assert.True(fn[2].DomainPagesEnd > 0 && fn[2].ExtraAccessMs > 0 && fn[1].DomainPagesEnd == 0, $"{fn[1]} {fn[2]}");

        Assert.Equal("domains[0].cpus", Refused(Sockets.Replace("node:1", "node:2")).Field);
        Assert.Equal("domains[0].cpus", Refused(Sockets.Replace("node:1", "node:5")).Field);
        Assert.Equal("domains[0].cpus", Refused(Sockets.Replace("\"node:1\"", "\"0-3\"")).Field);
    }

    [Fact]
    public void Transparent_tiering_promotes_a_zipf_guests_hot_pages_off_the_slow_tier()
    {
        string yaml = BuiltinScenarios.Text("tiering-cxl").Replace("duration: 30s", "duration: 12s");
        var on = new Simulation(ScenarioLoader.Parse(yaml, "t.yaml")).Run();
        var off = new Simulation(ScenarioLoader.Parse(yaml.Replace("  tiering: { scan_interval: 1s, cold_after: 3, moves_per_scan: 8192 }\n", ""), "t.yaml")).Run();
        Assert.Null(off.Summary.Host.Tiering);
        var t = on.Summary.Host.Tiering!;
        Assert.Equal(12, t.Scans);
        // Each promotion past the first free frames followed a demotion of a cold page; no more than the rate limit a scan.
        Assert.True(t.Promoted > 10_000 && t.Demoted > 0 && t.Promoted + t.Demoted <= 12 * 8192, $"{t}");
        double Cxl(RunResult r) => r.Summary.Host.Tiers!.Single(x => x.Kind == "cxl").AccessShare;
        double AppStall(RunResult r) => r.Summary.Domains.Single(d => d.Name == "app").Guest!.StallMs;
        Assert.True(Cxl(on) < 0.75 * Cxl(off), $"the slow tier served {Cxl(on):P1} of the accesses with tiering, {Cxl(off):P1} without");
        Assert.True(AppStall(on) < AppStall(off), $"app stalled {AppStall(on)} ms with tiering, {AppStall(off)} ms without");

        Assert.Equal("host.tiering", Refused(Tiered.Replace("""
              nodes:
                - { kind: dram, memory: 1GiB }
                - { kind: cxl, memory: 512MiB }
                - { kind: nvm, memory: 1GiB, read_ns: 400 }
            """, "  memory: 2560MiB\n  tiering: {}\n")).Field);
        Assert.Equal("host.tiering.scan_interval", Refused(Tiered.Replace("  nodes:", "  tiering: { scan_interval: 10ms }\n  nodes:")).Field);
    }
}
