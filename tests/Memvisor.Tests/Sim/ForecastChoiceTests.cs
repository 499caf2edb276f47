using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

/// <summary>Guests forecast their accesses only where the scenario's data outgrows the CPU's caches (1 GiB in use together).</summary>
public class ForecastChoiceTests
{
    private static Scenario With(int count, string workingSet, string kind = "steady") => ScenarioLoader.Parse($$"""
        name: forecast
        seed: 1
        duration: 1s
        host: { memory: 16GiB, dom0: { memory: 512MiB } }
        domains:
          - { name: vm, count: {{count}}, memory: 2GiB, maxmem: 2GiB, workload: { kind: {{kind}}, working_set: {{workingSet}}, rate: 100/s } }
        """, "forecast.yaml");

    [Fact]
    public void Small_scenarios_do_not_forecast_and_large_ones_do()
    {
        Assert.False(ScenarioChecks.AccessForecastPays(With(1, "256MiB")));
        Assert.False(ScenarioChecks.AccessForecastPays(With(3, "256MiB")));
        Assert.True(ScenarioChecks.AccessForecastPays(With(4, "256MiB")));
        Assert.True(ScenarioChecks.AccessForecastPays(With(1, "1GiB")));
        Assert.Equal(2 * 65_536, ScenarioChecks.GuestPagesInUse(With(2, "256MiB", "zipf")));
    }
}
