using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;
using Memvisor.Sim.Summary;

using Memvisor.Tests.Support;

namespace Memvisor.Tests.Sim;

/// <summary>xl migrate as a timeline action: the built-in migration scenario behaves as Clark et al. describe pre-copy, and what a scenario may ask.</summary>
public class MigrationScenarioTests
{
    private static MigrationSummary Only(RunResult r, string name) => Assert.Single(r.Summary.Domains.Single(d => d.Name == name).Migrations!);

    [Fact]
    public void An_idle_guest_converges_at_once_a_fast_writer_stops_at_the_round_limit_and_a_faster_link_is_quicker()
    {
        var scenario = BuiltinScenarios.Load("migration");
        var a = new Simulation(scenario).Run();
        Assert.Equal(0, a.Summary.Integrity.Errors);
        Assert.True(a.Summary.Integrity.VerifiedReads > 100_000);
        Assert.True(a.AccountingHeld);
        var idle = Only(a, "idle");
        var web = Only(a, "web");
        var writer = Only(a, "writer");
        Assert.All(new[] { idle, web, writer }, m => Assert.Equal("done", m.Outcome));
        // Idle: every page once, then fewer dirty pages than the policy's 50: a downtime of a few ms at most.
        Assert.Equal(1, idle.Rounds);
        Assert.True(idle.DowntimeMs < 5, $"idle downtime {idle.DowntimeMs} ms");
        // The writer dirties faster than 125 MB/s: 5 rounds, and the stop-and-copy sends a large writable working set.
        Assert.Equal(5, writer.Rounds);
        Assert.True(writer.WritableWorkingSetPages > 10_000 && writer.DowntimeMs > 100 * web.DowntimeMs,
            $"writer: {writer.WritableWorkingSetPages} pages, {writer.DowntimeMs} ms; web: {web.DowntimeMs} ms");
        Assert.Equal(writer.WritableWorkingSetPages, writer.StopAndCopyPages);
        Assert.Equal(writer.PagesSent, writer.PagesPerRound.Sum() + writer.StopAndCopyPages);
        // Each instance now runs in its destination domain, with a new domid.
        Assert.All(a.Domains.Where(r => r.Migrations is not null), r => Assert.Same(r.Domain, r.Migrations![0].Migration!.Destination));

        // Twice the bandwidth: the writer's migration takes much less time, and so does the idle guest's first round.
        var fast = new Simulation(scenario with { Host = scenario.Host with { Link = scenario.Host.Link with { BandwidthBytesPerSecond = 2 * scenario.Host.Link.BandwidthBytesPerSecond } } }).Run();
        Assert.Equal(0, fast.Summary.Integrity.Errors);
        Assert.True(Only(fast, "writer").TotalMs < 0.75 * writer.TotalMs, $"writer: {writer.TotalMs} ms at 125 MB/s, {Only(fast, "writer").TotalMs} ms at 250 MB/s");
        Assert.True(Only(fast, "idle").TotalMs < 0.6 * idle.TotalMs, $"idle: {idle.TotalMs} ms at 125 MB/s, {Only(fast, "idle").TotalMs} ms at 250 MB/s");
    }

    private const string Good = """
        name: t
        seed: 1
        duration: 10s
        host:
          memory: 1GiB
          dom0: { memory: 256MiB }
          link: { bandwidth: 1GiB/s, latency: 1ms }
        domains:
          - name: a
            memory: 128MiB
            workload: { kind: steady, working_set: 64MiB, rate: 1000/s }
        events:
          - { at: 2s, action: migrate, domain: a }
        """;

    private static ScenarioError Refused(string yaml) => ScenarioRefusal.Single(yaml);

    [Fact]
    public void A_migrate_names_a_movable_guest_and_the_link_is_bounded()
    {
        var s = ScenarioLoader.Parse(Good, "t.yaml");
        Assert.Equal(ActionKind.Migrate, s.Events[0].Action);
        Assert.Equal((double)(1L << 30), s.Host.Link.BandwidthBytesPerSecond);
        Assert.Equal(1_000_000, s.Host.Link.LatencyNs);
        Assert.Equal(125e6, ScenarioLoader.Parse(Good.Replace("  link: { bandwidth: 1GiB/s, latency: 1ms }\n", ""), "t.yaml").Host.Link.BandwidthBytesPerSecond);
        var dom0 = Refused(Good.Replace("action: migrate, domain: a", "action: migrate, domain: dom0"));
        Assert.Contains("dom0 is not migrated", dom0.Message);
        ScenarioLoader.Parse(Good.Replace("    memory: 128MiB\n", "    memory: 128MiB\n    mmu: pv\n"), "t.yaml");
        ScenarioLoader.Parse(Good.Replace("    memory: 128MiB\n", "    memory: 128MiB\n    maxmem: 256MiB\n    allocation: on-demand\n"), "t.yaml");
        Assert.Equal("events[0].memory", Refused(Good.Replace("action: migrate, domain: a", "action: migrate, domain: a, memory: 1GiB")).Field);
        Assert.Equal("host.link.bandwidth", Refused(Good.Replace("bandwidth: 1GiB/s", "bandwidth: 512KiB/s")).Field);
        Assert.Equal("host.link.bandwidth", Refused(Good.Replace("bandwidth: 1GiB/s", "bandwidth: 1GB/s")).Field);
        Assert.Equal("host.link.latency", Refused(Good.Replace("latency: 1ms", "latency: 1min")).Field);
        Assert.Equal("host.link.mtu", Refused(Good.Replace("latency: 1ms", "latency: 1ms, mtu: 9000")).Field);
    }

    [Fact]
    public void A_migration_the_host_cannot_hold_twice_asks_dom0_for_the_memory_first_on_xen()
    {
        const string yaml = """
            name: autoballoon
            seed: 1
            duration: 20s
            host:
              memory: 2GiB
              dom0: { memory: 1200MiB, min: 256MiB }
              link: { bandwidth: 1GiB/s }
            domains:
              - name: app
                memory: 512MiB
                guest: { check_integrity: true }
                workload: { kind: steady, working_set: 128MiB, rate: 2000/s, write_fraction: 0.5 }
            events:
              - { at: 5s, action: migrate, domain: app }
            """;
        var result = new Simulation(ScenarioLoader.Parse(yaml, "t.yaml")).Run();
        Assert.Empty(result.Summary.Errors);
        var m = Assert.Single(result.Summary.Domains.Single(d => d.Name == "app").Migrations!);
        Assert.Equal("done", m.Outcome);
        // It started once dom0's balloon had given the memory back, after the action.
        Assert.True(m.AtS > 5, $"the migration started at {m.AtS} s");
        Assert.Equal(0, result.Summary.Integrity.Errors);
    }
}
