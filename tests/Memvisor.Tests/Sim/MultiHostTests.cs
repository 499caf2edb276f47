using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Personalities;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;
using Memvisor.Sim.Summary;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Sim;

/// <summary>Scenarios with several hosts: hosts:, where domains start, migrate ... to: another host, and evacuate.</summary>
public class MultiHostTests
{
    private const string Two = """
        name: two
        seed: 3
        duration: 12s
        hosts:
          - name: a
            memory: 1GiB
            dom0: { memory: 256MiB }
            link: { bandwidth: 1GiB/s }
          - name: b
            memory: 1GiB
            dom0: { memory: 256MiB }
            link: { bandwidth: 512MiB/s, latency: 2ms }
        domains:
          - name: app
            host: a
            memory: 256MiB
            guest: { check_integrity: true }
            workload: { kind: steady, working_set: 128MiB, rate: 4000/s, write_fraction: 0.5 }
          - name: stay
            memory: 128MiB
            guest: { check_integrity: true }
            workload: { kind: steady, working_set: 64MiB, rate: 1000/s, write_fraction: 0.2 }
        events:
          - { at: 3s, action: migrate, domain: app, to: b }
        """;

    private static ScenarioError Refused(string yaml) => ScenarioRefusal.Single(yaml);

    // Two's guests on one host, with app migrated to the same host.
    private static string OneHost() => Two[..Two.IndexOf("hosts:", StringComparison.Ordinal)] + "host: { memory: 1GiB, dom0: { memory: 256MiB } }\n"
        + Two[Two.IndexOf("domains:", StringComparison.Ordinal)..].Replace("    host: a\n", "").Replace(", to: b", "");

    [Fact]
    public void Hosts_are_named_domains_are_placed_and_moves_name_hosts()
    {
        var s = ScenarioLoader.Parse(Two, "t.yaml");
        Assert.Equal(["a", "b"], s.Hosts.Select(h => h.Name));
        Assert.Equal(1, s.HostIndex("b"));
        Assert.Equal(0, s.HostIndex(s.Domains.Single(d => d.Name == "stay").Host));
        Assert.Equal("b", s.Events[0].To);
        Assert.Equal(HostSpec.DefaultName, BuiltinScenarios.Load("migration").Host.Name);

        Assert.Equal("hosts", Refused(Two.Replace("hosts:\n", "host: { memory: 1GiB }\nhosts:\n")).Field);
        var none = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(Two[..Two.IndexOf("hosts:", StringComparison.Ordinal)] + Two[Two.IndexOf("domains:", StringComparison.Ordinal)..].Replace("    host: a\n", "").Replace(", to: b", ""), "t.yaml"));
        Assert.Equal("host", Assert.Single(none.Errors).Field);
        Assert.Equal("hosts[1].name", Refused(Two.Replace("- name: b", "- name: a").Replace("to: b", "to: a")).Field);
        Assert.Equal("hosts[1].name", Refused(Two.Replace("  - name: b\n    memory: 1GiB", "  - memory: 1GiB")).Field);
        Assert.Equal("hosts[1].memory", Refused(Two.Replace("  - name: b\n    memory: 1GiB", "  - name: b\n    memory: 1MiB")).Field);
        var mixed = Refused(Two.Replace("  - name: b\n", "  - name: b\n    hypervisor: kvm\n"));
        Assert.Equal("hosts[1].hypervisor", mixed.Field);
        Assert.Contains("one hypervisor", mixed.Message);
        Assert.Equal("domains[0].host", Refused(Two.Replace("host: a", "host: c")).Field);
        Assert.Equal("events[0].to", Refused(Two.Replace("to: b", "to: c")).Field);
        Assert.Equal("events[0].to", Refused(Two.Replace("action: migrate, domain: app, to: b", "action: destroy, domain: app, to: b")).Field);
        Assert.Equal("events[0].host", Refused(Two.Replace("action: migrate, domain: app, to: b", "action: evacuate")).Field);
        Assert.Equal("events[0].domain", Refused(Two.Replace("action: migrate, domain: app, to: b", "action: evacuate, domain: app")).Field);
        Assert.Equal("events[0].to", Refused(Two.Replace("action: migrate, domain: app, to: b", "action: evacuate, host: a, to: a")).Field);
        Assert.Equal("events[0].host", Refused(Two.Replace("action: migrate, domain: app, to: b", "action: evacuate, host: z")).Field);
        Assert.Equal("events[0].host", Refused(Two.Replace("action: migrate, domain: app, to: b", "action: mem-set, domain: app, memory: 200MiB, host: a")).Field);
        // One host: evacuate has nowhere to go.
        var single = Refused(BuiltinScenarios.Text("migration").Replace("action: migrate, domain: idle", "action: evacuate, host: host"));
        Assert.Equal("events[0].host", single.Field);
    }

    [Fact]
    public void A_domain_must_fit_the_host_it_is_placed_on()
    {
        string big = Two.Replace("    memory: 256MiB\n    guest", "    memory: 900MiB\n    guest");
        var e = Refused(big);
        Assert.Equal("domains[0].memory", e.Field);
        Assert.Contains("host 'a'", e.Message);
        // On a larger host b it fits.
        ScenarioLoader.Parse(big.Replace("host: a", "host: b").Replace("  - name: b\n    memory: 1GiB", "  - name: b\n    memory: 2GiB"), "t.yaml");
    }

    [Fact]
    public void A_guest_migrated_to_another_host_runs_there_and_leaves_its_memory_behind()
    {
        var s = ScenarioLoader.Parse(Two, "t.yaml");
        var sim = new Simulation(s);
        var r = sim.Run();
        Assert.True(r.AccountingHeld);
        Assert.Equal(0, r.Summary.Integrity.Errors);
        Assert.True(r.Summary.Integrity.VerifiedReads > 10_000, $"{r.Summary.Integrity.VerifiedReads} reads checked");
        var app = r.Summary.Domains.Single(d => d.Name == "app");
        Assert.Equal("b", app.Host);
        Assert.Equal("a", r.Summary.Domains.Single(d => d.Name == "stay").Host);
        var m = Assert.Single(app.Migrations!);
        Assert.Equal(("done", "a", "b"), (m.Outcome, m.From, m.To));
        // The slower end sets the pace: 256 MiB at b's 512 MiB/s takes at least half a second.
        Assert.True(m.TotalMs >= 500, $"{m.TotalMs} ms");
        // Each host holds only its own domains' frames; a's app frames went back to its heap.
        var hosts = r.Summary.Hosts!;
        Assert.Equal(["a", "b"], hosts.Select(h => h.Name));
        Assert.Equal(r.Summary.Host, hosts[0]);
        var app0 = r.Domains.Single(d => d.Name == "app");
        Assert.Same(sim.Hosts[1].Find(app0.DomId), app0.Domain);
        Assert.NotSame(app0.Domain, sim.Hosts[0].Find(app0.DomId));
        Assert.True(hosts[0].FreePagesEnd > hosts[1].FreePagesEnd, $"a: {hosts[0].FreePagesEnd} free, b: {hosts[1].FreePagesEnd}");
        Assert.Equal(app.MaxPages, hosts[1].ConfiguredGuestPages);
        foreach (var hv in sim.Hosts) Assert.Empty(Auditor.Check(hv));
        // The time series has each host's figures, the second prefixed by its name, and every dom0.
        Assert.Contains("b.host_free_pages", r.Timeseries.Columns);
        Assert.Contains("Domain-0@b_tot_pages", r.Timeseries.Columns);
    }

    [Fact]
    public void A_single_host_summary_names_no_host()
    {
        var r = new Simulation(ScenarioLoader.Parse(OneHost(), "t.yaml")).Run();
        Assert.Equal("done", Assert.Single(r.Summary.Domains.Single(d => d.Name == "app").Migrations!).Outcome);
        Assert.Null(r.Summary.Hosts);
        Assert.Null(r.Summary.Host.Name);
        Assert.All(r.Summary.Domains, d => Assert.Null(d.Host));
        Assert.All(r.Summary.Domains.Where(d => d.Migrations is not null).SelectMany(d => d.Migrations!), m => Assert.Null(m.From ?? m.To));
    }

    [Fact]
    public void Evacuation_moves_every_guest_off_one_at_a_time_to_the_host_with_most_free_memory()
    {
        var r = new Simulation(ScenarioLoader.Parse(BuiltinScenarios.Text("evacuation").Replace("duration: 60s", "duration: 44s").Replace("  - { at: 45s, action: migrate, domain: db, to: rack-a }\n", ""), "t.yaml")).Run();
        Assert.True(r.AccountingHeld);
        Assert.Equal(0, r.Summary.Integrity.Errors);
        var leaving = r.Summary.Domains.Where(d => d.Migrations is { Count: > 0 } && d.Migrations[0].From == "rack-a").ToList();
        Assert.Equal(["web", "db", "batch", "idle"], leaving.Select(d => d.Name));
        Assert.All(leaving, d => Assert.Equal("done", d.Migrations![0].Outcome));
        Assert.DoesNotContain(r.Summary.Domains, d => d.Host == "rack-a" && d.Name != "Domain-0");
        // Both other hosts took some: each went where the most memory was free when its turn came.
        Assert.Equal(2, leaving.Select(d => d.Host).Distinct().Count());
        // One after another: each began once the one before had ended (within the ticks its last round and downtime end in).
        var ms = leaving.Select(d => d.Migrations![0]).ToList();
        for (int i = 1; i < ms.Count; i++)
            Assert.True(ms[i].AtS >= ms[i - 1].AtS + ms[i - 1].TotalMs / 1e3 - 0.2, $"migration {i} began at {ms[i].AtS} s, the one before at {ms[i - 1].AtS} s taking {ms[i - 1].TotalMs} ms");
    }

    [Fact]
    public void A_guest_the_destination_cannot_hold_stays_and_the_next_one_goes()
    {
        const string yaml = """
            name: full
            seed: 5
            duration: 10s
            hosts:
              - name: a
                memory: 2GiB
                dom0: { memory: 256MiB }
                link: { bandwidth: 2GiB/s }
              - name: b
                memory: 768MiB
                dom0: { memory: 256MiB }
                link: { bandwidth: 2GiB/s }
            domains:
              - name: big
                host: a
                memory: 1GiB
                workload: { kind: steady, working_set: 64MiB, rate: 1000/s }
              - name: small
                host: a
                memory: 128MiB
                guest: { check_integrity: true }
                workload: { kind: steady, working_set: 64MiB, rate: 1000/s, write_fraction: 0.5 }
            events:
              - { at: 2s, action: evacuate, host: a, to: b }
            """;
        var r = new Simulation(ScenarioLoader.Parse(yaml, "t.yaml")).Run();
        var big = r.Summary.Domains.Single(d => d.Name == "big");
        var small = r.Summary.Domains.Single(d => d.Name == "small");
        Assert.Equal(("refused", "a"), (Assert.Single(big.Migrations!).Outcome, big.Host));
        Assert.Equal(("done", "b"), (Assert.Single(small.Migrations!).Outcome, small.Host));
        Assert.Contains(r.Summary.Errors, e => e.Domain == "big" && e.Call == "migrate" && e.Errno == "ENOMEM");
        Assert.Equal(0, r.Summary.Integrity.Errors);
    }

    [Fact]
    public void Compare_hypervisors_turns_every_host_into_the_other_hypervisor()
    {
        var (kvm, _) = HypervisorLab.On(ScenarioLoader.Parse(Two, "t.yaml"), HostPersonality.Find("kvm")!);
        Assert.All(kvm.Hosts, h => Assert.Equal(HypervisorKind.Kvm, h.Personality.Kind));
        Assert.Equal(["a", "b"], kvm.Hosts.Select(h => h.Name));
    }

    private const string Crowded = """
        name: crowded
        seed: 9
        duration: 40s
        hosts:
          - { name: a, memory: 3GiB, dom0: { memory: 256MiB }, link: { bandwidth: 1GiB/s } }
          - { name: b, memory: 3GiB, dom0: { memory: 256MiB }, link: { bandwidth: 1GiB/s } }
        domains:
          - name: vm
            count: 3
            host: a
            memory: 640MiB
            guest: { check_integrity: true }
            workload: { kind: steady, working_set: 256MiB, rate: 2000/s, write_fraction: 0.3 }
        balance: { interval: 5s, target_stddev: 0.05 }
        """;

    [Fact]
    public void The_balancer_moves_a_guest_to_the_emptier_host_and_does_not_swing_it_back()
    {
        var r = new Simulation(ScenarioLoader.Parse(Crowded, "t.yaml")).Run();
        var b = r.Summary.Balance!;
        Assert.Equal(0, r.Summary.Integrity.Errors);
        // Three guests on a, none on b: one move leaves two on a and one on b. The deviation stays above the target,
        // but no move lowers it by half the target (moving a guest back and forth would only swap the hosts), so the
        // guests stay where they are from then on.
        Assert.Equal(1, b.Moves);
        Assert.InRange(b.LoadStddevLast, 0.05, 0.2);
        Assert.Equal(8, b.Invocations);
        var moved = r.Summary.Domains.Where(d => d.Migrations is not null).ToList();
        Assert.Single(moved);
        Assert.All(moved, d => Assert.Equal(("done", "a", "b", "b"), (Assert.Single(d.Migrations!).Outcome, d.Migrations![0].From, d.Migrations[0].To, d.Host)));
        // Without the balancer every guest stays on a.
        var still = new Simulation(ScenarioLoader.Parse(Crowded.Replace("balance: { interval: 5s, target_stddev: 0.05 }", ""), "t.yaml")).Run();
        Assert.Null(still.Summary.Balance);
        Assert.All(still.Summary.Domains.Where(d => d.Name.StartsWith("vm", StringComparison.Ordinal)), d => Assert.Equal("a", d.Host));
        // One host has nowhere to move a guest.
        Assert.Equal("balance", Refused(OneHost() + "\nbalance: { interval: 1min }\n").Field);
        Assert.Equal("balance.interval", Refused(Crowded.Replace("interval: 5s", "interval: 10ms")).Field);
    }

    [Fact]
    public void A_guest_saved_on_one_host_restores_on_another()
    {
        string yaml = Two.Replace("  - { at: 3s, action: migrate, domain: app, to: b }", "  - { at: 3s, action: save, domain: app }\n  - { at: 5s, action: restore, domain: app, to: b }");
        var sim = new Simulation(ScenarioLoader.Parse(yaml, "t.yaml"));
        var r = sim.Run();
        var app = r.Summary.Domains.Single(d => d.Name == "app");
        Assert.Equal(("running", "b", 1), (app.State, app.Host, app.SaveRestore!.Restores));
        Assert.Equal(0, r.Summary.Integrity.Errors);
        Assert.True(r.Domains.Single(d => d.Name == "app").Guest!.Integrity!.Checks > 1_000);
        Assert.Same(sim.Hosts[1].Find(app.Domid), r.Domains.Single(d => d.Name == "app").Domain);
        foreach (var hv in sim.Hosts) Assert.Empty(Auditor.Check(hv));
        Assert.Equal("events[1].to", Refused(yaml.Replace("restore, domain: app, to: b", "restore, domain: app, to: z")).Field);
    }

    private const string Waiting = """
        name: race
        seed: 2
        duration: 20s
        hosts:
          - { name: a, memory: 2GiB, dom0: { memory: 256MiB } }
          - { name: b, memory: 2GiB, dom0: { memory: 512MiB, min: 400MiB } }
          - { name: c, memory: 2GiB, dom0: { memory: 256MiB } }
        domains:
          - { name: g0, host: a, memory: 512MiB, guest: { check_integrity: true }, workload: { kind: steady, working_set: 128MiB, rate: 2000/s, write_fraction: 0.5 } }
          - { name: g1, host: a, memory: 512MiB, guest: { check_integrity: true }, workload: { kind: steady, working_set: 128MiB, rate: 2000/s, write_fraction: 0.5 } }
          - { name: gb, host: b, memory: 1200MiB, workload: { kind: steady, working_set: 64MiB, rate: 1000/s } }
        events:
          - { at: 1s, action: migrate, domain: g1, to: b }
          - { at: 1s, action: migrate, domain: g1, to: c }
          - { at: 9s, action: destroy, domain: gb }
        """;

    [Fact]
    public void A_guest_waiting_to_migrate_is_not_moved_again_and_the_wait_moves_the_right_guest()
    {
        // g1 waits for b's memory (its dom0 cannot give enough); a second migrate of it is refused, and when gb goes
        // the waiting migration moves g1, not whatever domain has g1's old domid on a.
        var sim = new Simulation(ScenarioLoader.Parse(Waiting, "t.yaml"));
        var r = sim.Run();
        Assert.Equal(0, r.Summary.Integrity.Errors);
        var g0 = r.Summary.Domains.Single(d => d.Name == "g0");
        var g1 = r.Summary.Domains.Single(d => d.Name == "g1");
        Assert.Equal(("a", (long?)null), (g0.Host, (long?)g0.Migrations?.Count));
        Assert.True(g0.TotPages > 100_000, $"g0 holds {g0.TotPages} pages");
        Assert.Equal(["done", "refused"], g1.Migrations!.OrderBy(m => m.Outcome, StringComparer.Ordinal).Select(m => m.Outcome));
        Assert.Equal("b", g1.Host);
        Assert.Contains(r.Summary.Errors, e => e.Domain == "g1" && e.Call == "migrate" && e.Errno == "EBUSY");
        foreach (var hv in sim.Hosts) Assert.Empty(Auditor.Check(hv));
        // Destroyed while it waited: the migration is dropped when b's memory comes, and nothing on a moves.
        var gone = new Simulation(ScenarioLoader.Parse(Waiting.Replace("  - { at: 9s, action: destroy, domain: gb }", "  - { at: 5s, action: destroy, domain: g1 }\n  - { at: 9s, action: destroy, domain: gb }"), "t.yaml")).Run();
        Assert.Equal(0, gone.Summary.Integrity.Errors);
        Assert.Contains(gone.Summary.HostEvents, e => e.Domain == "g1" && e.Message.Contains("dropped", StringComparison.Ordinal));
        Assert.Equal(("a", "running"), (gone.Summary.Domains.Single(d => d.Name == "g0").Host, gone.Summary.Domains.Single(d => d.Name == "g0").State));
        Assert.Null(gone.Summary.Domains.Single(d => d.Name == "g0").Migrations);
    }

    [Fact]
    public void An_evacuated_host_is_in_maintenance_until_a_move_names_it()
    {
        const string yaml = """
            name: maintenance
            seed: 6
            duration: 30s
            hosts:
              - { name: a, memory: 2GiB, dom0: { memory: 256MiB }, link: { bandwidth: 2GiB/s } }
              - { name: b, memory: 3GiB, dom0: { memory: 256MiB }, link: { bandwidth: 2GiB/s } }
            domains:
              - { name: g1, host: a, memory: 384MiB, workload: { kind: steady, working_set: 64MiB, rate: 1000/s } }
              - { name: g2, host: a, memory: 384MiB, workload: { kind: steady, working_set: 64MiB, rate: 1000/s } }
              - { name: g3, host: b, memory: 384MiB, workload: { kind: steady, working_set: 64MiB, rate: 1000/s } }
            events:
              - { at: 1s, action: evacuate, host: a }
            balance: { interval: 1s, target_stddev: 0.02 }
            """;
        var r = new Simulation(ScenarioLoader.Parse(yaml, "t.yaml")).Run();
        // Both left a and the balancer, which would even the loads out, sends nothing back to a host in maintenance.
        Assert.All(r.Summary.Domains.Where(d => d.Name.StartsWith('g')), d => Assert.Equal("b", d.Host));
        Assert.Equal(0, r.Summary.Balance!.Moves);
        Assert.Empty(r.Summary.Errors);
        // With b alone in the balance there is no deviation to measure.
        Assert.Equal(0, r.Summary.Balance.LoadStddevLast);
        // With a migrate naming a, it is back in the balance.
        var back = new Simulation(ScenarioLoader.Parse(yaml.Replace("  - { at: 1s, action: evacuate, host: a }", "  - { at: 1s, action: evacuate, host: a }\n  - { at: 12s, action: migrate, domain: g3, to: a }"), "t.yaml")).Run();
        Assert.True(back.Summary.Balance!.LoadStddevLast > 0, $"load stddev {back.Summary.Balance.LoadStddevLast}");
        Assert.Equal("a", back.Summary.Domains.Single(d => d.Name == "g3").Host);
    }

    [Fact]
    public void An_error_in_a_flow_list_of_events_names_its_own_event()
    {
        string yaml = Two.Replace("events:\n  - { at: 3s, action: migrate, domain: app, to: b }",
            "events: [ { at: 3s, action: migrate, domain: app, to: b }, { at: 4s, action: migrate, domain: stay, to: zz } ]");
        Assert.Equal("events[1].to", Refused(yaml).Field);
    }

    [Fact]
    public void Compare_figures_count_every_hosts_memory()
    {
        var r = new Simulation(ScenarioLoader.Parse(Two, "t.yaml")).Run();
        var outcome = PolicyOutcome.From(r);
        long firstHostUsedMib = Memvisor.Machine.Frames.PageSize.ToMiB(r.Frames - r.FreePagesMin);
        // b's dom0 and, after the migration, app are on b: the peak is above anything a alone used.
        Assert.True(outcome.PeakHostUsedMib > firstHostUsedMib, $"{outcome.PeakHostUsedMib} MiB against a's {firstHostUsedMib} MiB");
        Assert.Equal(r.Summary.Hosts!.Sum(h => h.Frames), r.AllFrames);
    }
}
