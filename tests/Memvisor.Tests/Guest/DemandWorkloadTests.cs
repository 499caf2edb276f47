using Memvisor.Guest.Workloads;
using Memvisor.Sim.Scenarios;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Guest;

/// <summary>The demand workload that replays a recorded guest: its schedule between, before, after and around samples, and the scenario keys it takes.</summary>
public sealed class DemandWorkloadTests
{
    private const long S = 1_000_000_000;

    [Fact]
    public void The_schedule_draws_straight_lines_between_samples_holds_the_ends_and_loops()
    {
        var samples = new[] { new DemandSample(2 * S, 100), new DemandSample(4 * S, 300), new DemandSample(8 * S, 100) };
        var once = new DemandSchedule(samples, loop: false);
        Assert.Equal([100, 100, 200, 300, 250, 100, 100], new[] { 0, 2, 3, 4, 5, 8, 20 }.Select(t => once.PagesAt(t * S)));
        var looped = new DemandSchedule(samples, loop: true);
        // The record repeats every 12 s (its last sample at 8 s, then one interval of 4 s): 15 s is 3 s into it.
        Assert.Equal(once.PagesAt(3 * S), looped.PagesAt(15 * S));
        Assert.Equal(100, looped.PagesAt(11 * S));
        Assert.Equal(0, new DemandSchedule([], false).PagesAt(5 * S));
    }

    private const string Base = """
        name: t
        duration: 10s
        host: { hypervisor: kvm, memory: 1GiB, dom0: { memory: 64MiB } }
        domains:
          - name: vm
            memory: 256MiB
            workload:
              kind: demand
              rate: 1000/s
              samples:
        """;

    [Fact]
    public void A_demand_workload_needs_samples_in_time_order_of_sizes()
    {
        var ok = ScenarioLoader.Parse(Base + "\n        - { at: 0s, used: 10MiB }\n        - { at: 1500ms, used: 40MiB }\n", "t.yaml");
        Assert.Equal([new DemandSample(0, 2560), new DemandSample(1_500_000_000, 10240)], ok.Domains[0].Workload.Demand);
        var unsorted = ScenarioRefusal.Single(Base + "\n        - { at: 2s, used: 10MiB }\n        - { at: 1s, used: 40MiB }\n");
        Assert.Equal("domains[0].workload.samples[1].at", unsorted.Field);
        Assert.Contains("in time order", unsorted.Message);
        var empty = ScenarioRefusal.Single(Base.Replace("      samples:", "      samples: []", StringComparison.Ordinal));
        Assert.Contains("at least one sample", empty.Message);
        var negative = ScenarioRefusal.Single(Base + "\n        - { at: 0s, used: -5MiB }\n");
        Assert.Equal("domains[0].workload.samples[0].used", negative.Field);
        var stray = ScenarioRefusal.Single(Base + "\n        - { at: 0s, used: 5MiB, rate: 3 }\n");
        Assert.Contains("rate", stray.Field + stray.Message);
    }
}
