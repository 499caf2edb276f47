using Memvisor.Cli;
using Memvisor.Cli.Commands;
using Memvisor.Daemon.Control;
using Memvisor.Policy;
using Memvisor.Sim.Policies;
using Memvisor.Sim.Scenarios;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Daemon;

/// <summary>The daemon's --policy given a scenario file: its policy's settings or external program run on a real host's snapshot; a file without a policy and a name that is neither are refused in sentences.</summary>
[Collection(ConsoleCapture.Collection)]
public sealed class DaemonPolicyFileTests
{
    private const long Mib = 1 << 20;

    [Fact]
    public void A_scenarios_external_program_decides_on_the_daemons_snapshot()
    {
        var scenario = ScenarioLoader.LoadFile(Path.Combine(AppContext.BaseDirectory, "examples", "external-policy.yaml"));
        using var policy = (ExternalPolicy)PolicyFactory.Create(scenario.Policy! with { IntervalNs = 1_000_000_000 });
        // Two guests that use little on a host with no memory free: the program takes a quarter of each one's excess.
        var a = new FakeVm("a", 1024 * Mib) { UsedBytes = 100 * Mib };
        var b = new FakeVm("b", 1024 * Mib) { UsedBytes = 500 * Mib };
        var daemon = new HostDaemon([a, b], policy, new DaemonOptions { HostMemoryBytes = 2048 * Mib, MaxStepBytes = 1024 * Mib }, new DecisionLog(new StringWriter()), () => null);
        var outcomes = daemon.Step();
        Assert.Equal(["a", "b"], outcomes.Where(o => o.Result == ActionResult.Applied).Select(o => o.Vm));
        // a needs 125 MiB (100 used, plus 25%): a quarter of 899 MiB of excess goes.
        Assert.Equal(1024 * Mib - (1024 * Mib - 125 * Mib) / 4, (long)outcomes[0].Set!.Value, 4096.0);
        Assert.True(b.BalloonRequests[0] < 1024 * Mib && b.BalloonRequests[0] > a.BalloonRequests[0]);
    }

    [Fact]
    public void A_policy_that_is_neither_a_name_nor_a_scenario_with_one_is_refused()
    {
        string dir = Directory.CreateTempSubdirectory("memvisor-daemon-policy-").FullName;
        try
        {
            string plain = TinyScenario.Write(dir, y => y);
            DaemonCommand.Arguments Args(string p) => new(["/nonexistent.qmp"], p, "1s", false, null, "0", "32", "128", 3, "off", null, null, null);
            var (code, _, err) = ConsoleCapture.Run(() => DaemonCommand.Run(Args(plain), CancellationToken.None));
            Assert.Equal(ExitCodes.BadInput, code);
            Assert.Contains("names no policy", err);
            (code, _, err) = ConsoleCapture.Run(() => DaemonCommand.Run(Args("balloonish"), CancellationToken.None));
            Assert.Equal(ExitCodes.BadInput, code);
            Assert.Contains("'balloonish' is neither a policy", err);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
