using Memvisor.Tests.Support;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

/// <summary>
/// --threads: the guests of a tick step on several lanes and the run is byte for byte the run on one, through every
/// mechanism and MMU mode, with every touch of shared state taken in a turn where the lane entered the hypervisor (a
/// shared structure reached outside one would stop the run).
/// </summary>
public class ThreadsTests
{
    // Overcommitted, with every mechanism that a guest's access or hypercall reaches, and the three MMU modes.
    private const string Busy = """
        name: lanes
        seed: 11
        duration: 12s
        host:
          memory: 640MiB
          dom0: { memory: 64MiB }
          sharing: { scan_rate: 20000/s }
          paging: { policy: clock }
          compression: { codec: lz4 }
          tmem: { dedup: true, reserve: 8MiB }
        domains:
          - name: web
            count: 2
            memory: 112MiB
            maxmem: 256MiB
            guest: { swap: 128MiB, check_integrity: true }
            tmem: true
            sharing: true
            paging: { target: 48MiB }
            workload: { kind: zipf, working_set: 180MiB, rate: 20000/s, skew: 0.9, write_fraction: 0.4 }
          - name: files
            memory: 80MiB
            maxmem: 192MiB
            guest: { swap: 64MiB, check_integrity: true }
            tmem: true
            sharing: true
            workload: { kind: file-streaming, file_size: 192MiB, rate: 10000/s, write_fraction: 0.2 }
          - name: pv
            memory: 64MiB
            mmu: pv
            guest: { check_integrity: true }
            workload: { kind: steady, working_set: 40MiB, rate: 10000/s, write_fraction: 0.5 }
          - name: shadow
            memory: 64MiB
            mmu: shadow3
            guest: { check_integrity: true }
            workload: { kind: steady, working_set: 40MiB, rate: 10000/s, write_fraction: 0.5 }
        events:
          - { at: 4s, action: mem-set, domain: files, memory: 48MiB }
          - { at: 8s, action: mem-set, domain: pv, memory: 48MiB }
        """;

    [Fact]
    public void A_busy_overcommitted_host_gives_the_same_summary_on_one_two_and_three_threads()
    {
        var scenario = ScenarioLoader.Parse(Busy, "lanes.yaml");
        var one = new Simulation(scenario, threads: 1).Run();
        var two = new Simulation(scenario, threads: 2).Run();
        var three = new Simulation(scenario, threads: 3).Run();

        Assert.Equal(RunFigures.SummaryBytes(one), RunFigures.SummaryBytes(two));
        Assert.Equal(RunFigures.SummaryBytes(one), RunFigures.SummaryBytes(three));
        Assert.Equal(0, one.IntegrityErrors);
        Assert.True(one.Mechanisms.Paging.PagedIn > 0 && one.Mechanisms.Sharing.CowBreaks > 0 && one.Mechanisms.Tmem.Gets > 0,
            "the scenario should reach paging, sharing and tmem from the guests' steps");
        foreach (var r in new[] { one, two, three })
        {
            // Both kinds of step happened: some ran wholly beside the others, some needed their turn.
            Assert.InRange(r.Wall.GuestStepsWithTurn, 1, r.Wall.GuestSteps - 1);
        }
        Assert.Equal(3, three.Wall.Threads);
    }

    public static TheoryData<string> Builtins => [.. BuiltinScenarios.Names];

    // Every built-in's first simulated seconds (its timeline's actions in that time included), on one lane and on two.
    [Theory]
    [MemberData(nameof(Builtins))]
    public void Every_builtin_gives_the_same_summary_on_one_and_two_threads(string name)
    {
        var full = BuiltinScenarios.Load(name);
        var scenario = full with { DurationNs = Math.Min(full.DurationNs, 3_000_000_000) };
        var one = new Simulation(scenario, threads: 1).Run();
        var two = new Simulation(scenario, threads: 2).Run();
        Assert.Equal(RunFigures.SummaryBytes(one), RunFigures.SummaryBytes(two));
    }
}
