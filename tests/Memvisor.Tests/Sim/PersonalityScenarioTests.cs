using Memvisor.Hypervisor.Personalities;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Policies;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

/// <summary>host.hypervisor in scenarios: its defaults, what each hypervisor refuses, and Xen's PoD crash seen as xl list would.</summary>
public class PersonalityScenarioTests
{
    private const string Base = """
        name: p
        seed: 2
        duration: 6s
        host:
          memory: 1GiB
          dom0: { memory: 128MiB }
        domains:
          - name: web
            memory: 128MiB
            maxmem: 256MiB
            workload: { kind: steady, working_set: 32MiB, rate: 2000/s }
        """;

    private static string On(string hypervisor, string yaml = Base) =>
        yaml.Replace("  dom0: { memory: 128MiB }", $"  hypervisor: {hypervisor}\n  dom0: {{ memory: 128MiB }}");

    private static ScenarioError Refused(string yaml, string field)
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(yaml, "p.yaml"));
        return Assert.Single(e.Errors, x => x.Field == field);
    }

    [Fact]
    public void The_host_is_xen_unless_it_says_otherwise_and_an_unknown_hypervisor_is_refused_at_its_field()
    {
        Assert.Equal(HostPersonality.Xen, ScenarioLoader.Parse(Base, "p.yaml").Host.Personality);
        Assert.Equal(HostPersonality.HyperV, ScenarioLoader.Parse(On("hyperv"), "p.yaml").Host.Personality);
        var e = Refused(On("vmware"), "host.hypervisor");
        Assert.Equal(6, e.Line);
        Assert.Contains("xen, esx, kvm, hyperv", e.Message);
    }

    [Theory]
    [InlineData("hyperv", "  sharing: { scan_rate: 1000/s }\n", null, "host.sharing", "Hyper-V has no page sharing")]
    [InlineData("kvm", "  tmem: { reserve: 8MiB }\n", null, "host.tmem", "KVM has no transcendent memory")]
    [InlineData("hyperv", "  paging: { policy: clock }\n", null, "host.paging", "Hyper-V has no hypervisor paging")]
    [InlineData("hyperv", null, "    allocation: on-demand\n", "domains[0].allocation", "Hyper-V has no on-demand allocation")]
    [InlineData("esx", null, "    mmu: pv\n", "domains[0].mmu", "ESX has no paravirtualized MMU")]
    [InlineData("xen", null, "    free_page_reporting: true\n", "domains[0].free_page_reporting", "Xen has no free page reporting")]
    [InlineData("esx", null, "    tmem: true\n", "domains[0].tmem", "ESX has no transcendent memory")]
    public void A_mechanism_the_hypervisor_does_not_have_is_refused_at_its_key(string hypervisor, string? hostLine, string? domainLine, string field, string message)
    {
        string yaml = On(hypervisor);
        if (hostLine is not null) yaml = yaml.Replace("domains:\n", hostLine + "domains:\n");
        if (domainLine is not null) yaml = yaml.Replace("    maxmem: 256MiB\n", "    maxmem: 256MiB\n" + domainLine);
        Assert.Contains(message, Refused(yaml, field).Message);
    }

    [Fact]
    public void Hyper_v_refuses_a_paging_target_action()
    {
        var e = Refused(On("hyperv") + "\nevents:\n  - { at: 1s, action: paging-target, domain: web, memory: 64MiB }", "events[0].action");
        Assert.Contains("Smart Paging", e.Message);
    }

    [Theory]
    [InlineData("xen", "squeezed")]
    [InlineData("esx", "esx")]
    [InlineData("kvm", "mom")]
    [InlineData("hyperv", "hyperv")]
    public void A_policy_with_no_name_is_the_hypervisor_s_own(string hypervisor, string policy)
    {
        var s = ScenarioLoader.Parse(On(hypervisor) + "\npolicy: { interval: 5s }", "p.yaml");
        Assert.Equal(policy, s.Policy!.Name);
        Assert.False(s.Policy.Named);
        Assert.Equal("static", ScenarioLoader.Parse(On(hypervisor) + "\npolicy: { name: static }", "p.yaml").Policy!.Name);
    }

    [Fact]
    public void Esx_s_reservation_is_0_unless_given()
    {
        var s = ScenarioLoader.Parse(On("esx") + "\npolicy: { interval: 2s }", "p.yaml");
        var snapshots = new Simulation(s, keepSnapshots: true).Run().Snapshots;
        var web = Assert.Single(snapshots[0].Domains, d => d.Name == "web");
        Assert.Equal(0, web.ReservationPages);
        var given = ScenarioLoader.Parse(On("esx").Replace("    maxmem: 256MiB\n", "    maxmem: 256MiB\n    reservation: 64MiB\n") + "\npolicy: { interval: 2s }", "p.yaml");
        Assert.Equal(16384, Assert.Single(new Simulation(given, keepSnapshots: true).Run().Snapshots[0].Domains, d => d.Name == "web").ReservationPages);
    }

    [Theory]
    [InlineData("xen", "static")]
    [InlineData("esx", "on-demand")]
    [InlineData("kvm", "on-demand")]
    [InlineData("hyperv", "static")]
    public void Each_hypervisor_allocates_a_domain_its_own_way_when_the_scenario_does_not_say(string hypervisor, string allocation)
    {
        var r = new Simulation(ScenarioLoader.Parse(On(hypervisor), "p.yaml")).Run();
        Assert.Equal(hypervisor, r.Summary!.Host.Hypervisor);
        Assert.Equal(allocation, Assert.Single(r.Summary.Domains, d => d.Name == "web").Allocation);
    }

    // Xen PoD (p2m-pod.c): a guest with no balloon driver sees all of maxmem but has a cache of memory; touching
    // beyond it with no zero page to sweep crashes the domain, which xl destroys (on_crash=destroy).
    private const string Pod = """
        name: pod
        seed: 4
        duration: 20s
        host: { memory: 1GiB, dom0: { memory: 128MiB } }
        domains:
          - name: guest
            memory: 128MiB
            maxmem: 384MiB
            allocation: on-demand
            guest: { swap: 256MiB }
            workload: { kind: steady, working_set: 256MiB, rate: 20000/s, write_fraction: 1 }
        """;

    [Fact]
    public void A_xen_pod_guest_without_a_balloon_driver_that_outruns_its_cache_is_crashed_and_one_with_a_driver_runs()
    {
        var noDriver = new Simulation(ScenarioLoader.Parse(Pod.Replace("    guest: { swap: 256MiB }\n", "    guest: { swap: 256MiB }\n    balloon: { enabled: false }\n"), "p.yaml")).Run();
        var crashed = Assert.Single(noDriver.Summary!.Domains, d => d.Name == "guest");
        Assert.Equal("crashed", crashed.State);
        Assert.NotNull(crashed.DestroyedAtS);
        Assert.True(crashed.Pod!.Sweeps >= 1);
        Assert.Contains(noDriver.Summary.HostEvents, e => e.Domain == "guest" && e.Message.Contains("out of PoD memory"));
        Assert.Equal(0, PolicyOutcome.From(noDriver).VmsFit);

        var withDriver = new Simulation(ScenarioLoader.Parse(Pod, "p.yaml")).Run();
        var running = Assert.Single(withDriver.Summary!.Domains, d => d.Name == "guest");
        Assert.Equal("running", running.State);
        Assert.Equal(0, running.Pod!.Sweeps);
        Assert.Equal(1, PolicyOutcome.From(withDriver).VmsFit);

        // On KVM the same guest is given a frame at each first touch: no cache, no crash.
        var kvm = new Simulation(ScenarioLoader.Parse(On("kvm", Pod.Replace("host: { memory: 1GiB, dom0: { memory: 128MiB } }", "host:\n  memory: 1GiB\n  dom0: { memory: 128MiB }"))
            .Replace("    guest: { swap: 256MiB }\n", "    guest: { swap: 256MiB }\n    balloon: { enabled: false }\n"), "p.yaml")).Run();
        Assert.Equal("running", Assert.Single(kvm.Summary!.Domains, d => d.Name == "guest").State);
    }

    [Fact]
    public void On_another_hypervisor_the_same_guests_lose_only_what_that_host_lacks_and_run_its_own_policy()
    {
        var s = ScenarioLoader.Parse(Base.Replace("domains:\n", "  sharing: { scan_rate: 1000/s }\n  tmem: { reserve: 8MiB }\ndomains:\n")
            .Replace("    maxmem: 256MiB\n", "    maxmem: 256MiB\n    tmem: true\n    sharing: true\n"), "p.yaml");
        var (hyperv, notes) = HypervisorLab.On(s, HostPersonality.HyperV);
        Assert.Equal(HostPersonality.HyperV, hyperv.Host.Personality);
        Assert.False(hyperv.Host.Overcommit.Sharing.Enabled);
        Assert.False(hyperv.Host.Overcommit.Tmem.Enabled);
        Assert.False(hyperv.Domains[0].Guest.Tmem);
        Assert.Equal("hyperv", hyperv.Policy!.Name);
        Assert.Contains(notes, n => n.Contains("host.sharing is off"));
        Assert.Contains(notes, n => n.Contains("web's tmem is off"));
        var (xen, xenNotes) = HypervisorLab.On(s, HostPersonality.Xen);
        Assert.Empty(xenNotes);
        Assert.True(xen.Host.Overcommit.Tmem.Enabled);
        Assert.Equal("squeezed", xen.Policy!.Name);

        // An ESX scenario's large_pages carries to KVM (both back first touches) and is dropped, with a note, on Xen.
        var esx = s with { Host = s.Host with { Overcommit = s.Host.Overcommit with { Personality = HostPersonality.Esx, LargePages = false } } };
        Assert.False(HypervisorLab.On(esx, HostPersonality.Kvm).Scenario.Host.Overcommit.LargePages);
        var (xenFromEsx, fromEsxNotes) = HypervisorLab.On(esx, HostPersonality.Xen);
        Assert.Null(xenFromEsx.Host.Overcommit.LargePages);
        Assert.Contains(fromEsxNotes, n => n.Contains("host.large_pages does not apply"));
    }

    // xl's autoballoon (xl_vmcontrol.c, freemem): a create the host cannot cover asks dom0 to give back the difference.
    private const string Autoballoon = """
        name: autoballoon
        seed: 6
        duration: 20s
        host: { memory: 1GiB, dom0: { memory: 512MiB, min: 128MiB } }
        domains:
          - { name: a, memory: 320MiB, workload: { kind: steady, working_set: 64MiB, rate: 1000/s } }
          - { name: b, memory: 320MiB, autostart: false, workload: { kind: steady, working_set: 64MiB, rate: 1000/s } }
        events:
          - { at: 2s, action: create, domain: b }
        """;

    [Fact]
    public void On_xen_a_create_the_host_cannot_cover_balloons_dom0_down_to_its_minimum_and_waits()
    {
        var r = new Simulation(ScenarioLoader.Parse(Autoballoon, "p.yaml")).Run();
        var b = Assert.Single(r.Summary!.Domains, d => d.Name == "b");
        Assert.Equal("running", b.State);
        Assert.InRange(b.CreatedAtS, 2, 4);
        var dom0 = Assert.Single(r.Summary.Domains, d => d.Name == "Domain-0");
        Assert.InRange(dom0.MemoryKib, 128 << 10, (512 << 10) - 1);

        // With dom0's minimum at its memory there is nothing to give: the create fails at once.
        var fixedDom0 = new Simulation(ScenarioLoader.Parse(Autoballoon.Replace("min: 128MiB", "min: 512MiB"), "p.yaml")).Run();
        Assert.Equal("failed", Assert.Single(fixedDom0.Summary!.Domains, d => d.Name == "b").State);
        // KVM has no dom0 to balloon: the guest's memory comes at first touch, so b starts without it.
        var kvm = new Simulation(ScenarioLoader.Parse(Autoballoon.Replace("host: { memory: 1GiB,", "host: { memory: 1GiB, hypervisor: kvm,"), "p.yaml")).Run();
        Assert.Equal(512 << 10, Assert.Single(kvm.Summary!.Domains, d => d.Name == "Domain-0").MemoryKib);
    }

    [Fact]
    public void Ksm_s_pages_to_scan_and_sleep_millisecs_set_the_scan_rate_and_scan_rate_beside_them_is_refused()
    {
        var s = ScenarioLoader.Parse(On("kvm").Replace("domains:\n", "  sharing: { pages_to_scan: 200, sleep_millisecs: 10, use_zero_pages: true }\ndomains:\n"), "p.yaml");
        Assert.Equal(20_000, s.Host.Overcommit.Sharing.ScanRatePagesPerSecond);
        Assert.True(s.Host.Overcommit.Sharing.UseZeroPages);
        Assert.False(ScenarioLoader.Parse(On("kvm").Replace("domains:\n", "  sharing: { pages_to_scan: 100 }\ndomains:\n"), "p.yaml").Host.Overcommit.Sharing.UseZeroPages);
        Assert.Equal(5000, ScenarioLoader.Parse(On("kvm").Replace("domains:\n", "  sharing: { pages_to_scan: 100 }\ndomains:\n"), "p.yaml").Host.Overcommit.Sharing.ScanRatePagesPerSecond);
        var e = Refused(On("kvm").Replace("domains:\n", "  sharing: { scan_rate: 1000/s, pages_to_scan: 100 }\ndomains:\n"), "host.sharing.scan_rate");
        Assert.Contains("not both", e.Message);
    }

    // A restart goes through xl's create: on Xen, autoballoon asks dom0 for what the rebuild needs.
    private const string Restart = """
        name: restart
        seed: 5
        duration: 12s
        host: { memory: 1GiB, dom0: { memory: 384MiB, min: 128MiB } }
        domains:
          - { name: vm, memory: 256MiB, workload: { kind: steady, working_set: 32MiB, rate: 2000/s } }
          - { name: late, memory: 384MiB, autostart: false, workload: { kind: steady, working_set: 32MiB, rate: 2000/s } }
          - { name: never, memory: 64MiB, autostart: false, workload: { kind: steady, working_set: 8MiB, rate: 2000/s } }
        policy: { name: static }
        events:
          - { at: 1s, action: mem-set, domain: vm, memory: 64MiB }
          - { at: 3s, action: create, domain: late }
          - { at: 5s, action: restart, domain: vm }
          - { at: 6s, action: restart, domain: never }
        """;

    [Fact]
    public void A_restart_on_xen_is_rebuilt_through_xls_create_with_autoballoon_and_one_of_a_domain_not_running_is_refused()
    {
        var r = new Simulation(ScenarioLoader.Parse(Restart, "r.yaml")).Run();
        var vm = Assert.Single(r.Summary!.Domains, d => d.Name == "vm");
        Assert.Equal(("running", 1), (vm.State, vm.Restarts));
        Assert.Equal(5, vm.CreatedAtS, 1);
        // The host could not cover vm's 256 MiB at 5 s without dom0 giving some back.
        Assert.True(Assert.Single(r.Summary.Domains, d => d.Name == "Domain-0").MemoryKib < 384 << 10);
        var refused = Assert.Single(r.Summary.Errors);
        Assert.Equal(("restart", "never"), (refused.Call, refused.Domain));
        Assert.Contains("not running", refused.Reason);
    }
}
