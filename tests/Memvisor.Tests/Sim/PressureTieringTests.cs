using Memvisor.Sim.Engine;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

/// <summary>TMO's pressure-driven offloading (host.tiering.pressure_target) on the tmo built-in: DRAM freed for a bounded stall.</summary>
public class PressureTieringTests
{
    private static string Tmo(string target = "10ms") =>
        BuiltinScenarios.Text("tmo").Replace("duration: 120s", "duration: 40s").Replace("pressure_target: 10ms", $"pressure_target: {target}");

    private static ScenarioError Refused(string yaml) => Assert.Single(Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(yaml, "t.yaml")).Errors);

    private static double StallShare(RunResult r) => PolicyOutcome.From(r).StallShare;

    [Fact]
    public void Offloading_frees_DRAM_that_plain_tiering_leaves_full_for_little_stall()
    {
        var scenario = ScenarioLoader.Parse(Tmo(), "tmo.yaml");
        var pressure = new Simulation(scenario).Run();
        var plain = new Simulation(TieringLab.With(scenario, "nvme-tier", [], out _)!).Run();
        long DramFree(RunResult r) => r.Summary.Host.Nodes![0].FreePagesEnd;
        var p = pressure.Summary.Host.Tiering!.Pressure!;
        Assert.True(p.Offloaded > 0 && p.Probes > 0, $"{p}");
        // Everything fits in DRAM: plain tiering moves next to nothing; offloading frees at least 256 MiB more of it.
        Assert.True(DramFree(pressure) - DramFree(plain) >= 256 * 256, $"DRAM free: {DramFree(pressure)} pages offloading, {DramFree(plain)} without");
        Assert.True(StallShare(pressure) - StallShare(plain) < 0.01, $"stall {StallShare(pressure):P2} offloading, {StallShare(plain):P2} without");
        Assert.Equal(0, pressure.IntegrityErrors);
        Assert.Null(plain.Summary.Host.Tiering!.Pressure);
    }

    [Fact]
    public void A_tighter_target_backs_off_more_and_offloads_less()
    {
        var loose = new Simulation(ScenarioLoader.Parse(Tmo("10ms"), "tmo.yaml")).Run().Summary.Host.Tiering!.Pressure!;
        var tight = new Simulation(ScenarioLoader.Parse(Tmo("1ms"), "tmo.yaml")).Run().Summary.Host.Tiering!.Pressure!;
        Assert.True(tight.Backoffs > loose.Backoffs, $"backoffs: {tight.Backoffs} at 1ms, {loose.Backoffs} at 10ms");
        Assert.True(tight.Offloaded < loose.Offloaded, $"offloaded: {tight.Offloaded} at 1ms, {loose.Offloaded} at 10ms");
    }

    [Fact]
    public void Pressure_keys_are_checked_by_field()
    {
        Assert.Equal("host.tiering.pressure_target", Refused(Tmo("0s")).Field);
        Assert.Equal("host.tiering.pressure_target", Refused(Tmo("2min")).Field);
        Assert.Equal("host.tiering.pressure_probe_every", Refused(Tmo().Replace("pressure_probe_every: 0", "pressure_probe_every: -1")).Field);
    }
}
