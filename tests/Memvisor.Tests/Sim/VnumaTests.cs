using Memvisor.Sim.Engine;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

/// <summary>A domain's vnuma (xl.cfg's): its memory as virtual NUMA nodes on host nodes, Pond's zNUMA among them.</summary>
public class VnumaTests
{
    private const string Host = """
        name: v
        seed: 3
        duration: 4s
        host:
          dom0: { memory: 128MiB }
          nodes:
            - { kind: dram, memory: 1GiB }
            - { kind: cxl, memory: 1GiB }
        domains:
          - name: g
            memory: 512MiB
            vnuma:
              - { pnode: 0, memory: 320MiB }
              - { pnode: 1, memory: 192MiB }
            workload: { kind: zipf, working_set: 192MiB, rate: 50000/s, write_fraction: 0.3 }
        """;

    private static ScenarioError Refused(string yaml) => Assert.Single(Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(yaml, "t.yaml")).Errors);

    [Fact]
    public void Each_virtual_node_s_pages_come_from_its_pnode_and_the_guest_works_on_its_local_node()
    {
        var r = new Simulation(ScenarioLoader.Parse(Host, "t.yaml")).Run();
        var nodes = r.Summary.Host.Nodes!;
        // Xen builds the whole 512 MiB: 320 MiB on DRAM (with dom0's 128 MiB) and 192 MiB on CXL, none of it used.
        Assert.Equal(192L * 256, nodes[1].DomainPagesEnd);
        Assert.Equal((128L + 320) * 256, nodes[0].DomainPagesEnd);
        Assert.Equal(0, nodes[1].Reads + nodes[1].Writes);
        Assert.True(nodes[0].Reads + nodes[0].Writes > 100_000);
        Assert.Equal(0, r.IntegrityErrors);
    }

    [Fact]
    public void A_working_set_beyond_the_local_node_spills_onto_the_cpu_less_one()
    {
        var r = new Simulation(ScenarioLoader.Parse(Host.Replace("{ kind: zipf, working_set: 192MiB, rate: 50000/s, write_fraction: 0.3 }", "{ kind: steady, working_set: 448MiB, rate: 200000/s }"), "t.yaml")).Run();
        var cxl = r.Summary.Host.Tiers!.Single(t => t.Kind == "cxl");
        Assert.InRange(cxl.AccessShare, 0.05, 0.6);
    }

    [Fact]
    public void Vnuma_is_checked_by_field()
    {
        Assert.Equal("domains[0].vnuma", Refused(Host.Replace("memory: 192MiB }", "memory: 100MiB }")).Field);
        Assert.Equal("domains[0].vnuma[1].memory", Refused(Host.Replace("memory: 192MiB }", "memory: 1500KiB }")).Field);
        Assert.Equal("domains[0].vnuma", Refused(Host.Replace("pnode: 1,", "pnode: 2,")).Field);
        Assert.Equal("domains[0].vnuma", Refused(Host.Replace("pnode: 0,", "pnode: 1,")).Field);
        Assert.Equal("domains[0].cpus", Refused(Host.Replace("    vnuma:", "    cpus: \"node:1\"\n    vnuma:")).Field);
    }

    [Fact]
    public void Znuma_puts_the_untouched_memory_on_CXL_and_the_guests_work_on_DRAM()
    {
        var scenario = BuiltinScenarios.Load("pond") with { DurationNs = 8_000_000_000 };
        var notes = new List<string>();
        var split = TieringLab.With(scenario, TieringLab.Znuma, notes, out _)!;
        // Half the host is DRAM: each 1 GiB guest gets 512 MiB on each.
        Assert.All(split.Domains, d => Assert.Equal([(0, 512L * 256), (1, 512L * 256)], d.Vnuma!.Select(v => (v.Pnode, v.Pages))));
        Assert.False(split.Host.Overcommit.Tiering.Enabled);
        var znuma = new Simulation(split).Run();
        var none = new Simulation(TieringLab.With(scenario, "none", [], out _)!).Run();
        double Cxl(RunResult r) => r.Summary.Host.Tiers!.Single(t => t.Kind == "cxl").AccessShare;
        Assert.Equal(0, Cxl(znuma));
        Assert.True(Cxl(none) > 0.2, $"without zNUMA the third guest should work on CXL: {Cxl(none):P1}");
        Assert.Equal(3L * 512 * 256, znuma.Summary.Host.Nodes![1].DomainPagesEnd);
    }

    [Fact]
    public void All_dram_makes_a_domain_one_node_again()
    {
        var s = TieringLab.With(ScenarioLoader.Parse(Host, "t.yaml"), TieringLab.AllDram, [], out _)!;
        Assert.Null(s.Domains[0].Vnuma);
        Assert.Equal(0, s.Domains[0].CpuNode);
        Assert.Equal(0, new Simulation(s).Run().IntegrityErrors);
    }

    [Fact]
    public void A_2MiB_extent_never_straddles_two_virtual_nodes()
    {
        // 321 MiB and 191 MiB: the builder's 2 MiB extent at 320 MiB would reach into the second node.
        var r = new Simulation(ScenarioLoader.Parse(Host.Replace("memory: 320MiB", "memory: 321MiB").Replace("memory: 192MiB }", "memory: 191MiB }"), "t.yaml")).Run();
        Assert.Equal(191L * 256, r.Summary.Host.Nodes![1].DomainPagesEnd);
    }

    [Fact]
    public void The_guest_tiers_its_nodes_only_toward_memory_only_ones()
    {
        string tiering = Host.Replace("    workload:", "    guest: { tiering: true }\n    workload:");
        Assert.NotNull(ScenarioLoader.Parse(tiering, "t.yaml"));
        string twoDram = tiering.Replace("- { kind: cxl, memory: 1GiB }", "- { kind: dram, memory: 1GiB }");
        Assert.Equal("domains[0].guest.tiering", Refused(twoDram).Field);
        // compare's hypervisor-side ways leave the guest's placement alone; only guest turns its tiering on.
        var s = ScenarioLoader.Parse(tiering, "t.yaml");
        Assert.False(TieringLab.With(s, "none", [], out _)!.Domains[0].Guest.Tiering);
        Assert.False(TieringLab.With(s, TieringLab.Znuma, [], out _)!.Domains[0].Guest.Tiering);
        Assert.True(TieringLab.With(s, TieringLab.GuestTiering, [], out _)!.Domains[0].Guest.Tiering);
    }

    [Fact]
    public void A_domain_whose_vnodes_name_nodes_a_machine_lacks_is_built_as_one_node()
    {
        var hv = Memvisor.Tests.Support.TestHost.Create(frames: 8192, nodes: 2);
        var config = new Memvisor.Hypervisor.Domains.DomainConfig
        {
            Name = "moved", MemoryPages = 1024, MaxPages = 1024, Vnodes = [new(0, 512), new(5, 512)],
        };
        Assert.Equal(Memvisor.Seam.XenErrno.Ok, hv.CreateDomain(config, out var d));
        Assert.Null(d!.Config.Vnodes);
        Assert.Equal(d.PreferredNode, d.NodeFor(1000));
    }
}
