using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Memvisor.Daemon.Control;
using Memvisor.Daemon.Qmp;
using Memvisor.Daemon.Vms;
using Memvisor.Policy;
using Memvisor.Policy.Mom;
using Memvisor.Policy.Squeezed;

namespace Memvisor.Tests.Daemon;

/// <summary>Four real guests for the daemon's tests: a and b run the balloon driver, c ignores its balloon (no driver), d allocates and frees 48 MiB every 20 s.</summary>
public sealed class DaemonGuests : IDisposable
{
    public RealGuests Guests { get; } = new();
    public string A { get; }
    public string B { get; }
    public string C { get; }
    public string D { get; }

    public DaemonGuests()
    {
        A = Guests.Boot("a");
        B = Guests.Boot("b");
        C = Guests.Boot("c", balloonDriver: false);
        D = Guests.Boot("d", workload: "churn");
    }

    public void Dispose() => Guests.Dispose();
}

/// <summary>
/// The daemon against real QEMU guests (software emulation): squeezed and MOM lower the guests' balloon targets when
/// a budget is below what they hold, and the guests' memory follows as query-balloon shows; raised, it grows back; a
/// guest that ignores its balloon is marked stuck and left alone; the command stops cleanly on SIGTERM leaving the
/// VMs as asked, serves its metrics, and acts on nothing in a dry run.
/// </summary>
// In the collection of the tests that run apt-get (the fixture may install QEMU and busybox), so two never meet dpkg's lock.
[Collection(Memvisor.Tests.Support.ConsoleCapture.Collection)]
public sealed class DaemonRealGuestTests(DaemonGuests vms) : IClassFixture<DaemonGuests>
{
    private const long Mib = 1 << 20;

    private static QemuVm Vm(string socket) => new(socket, TimeSpan.FromSeconds(10), 1);

    private static HostDaemon Daemon(IPolicy policy, DaemonOptions options, StringWriter log, params string[] sockets) =>
        new([.. sockets.Select(s => (IVm)Vm(s))], policy, options, new DecisionLog(log), () => null);

    // Steps once a second until the condition holds or the steps run out; whether it held.
    private static bool StepUntil(HostDaemon daemon, Func<bool> done, int maxSteps)
    {
        for (int i = 0; i < maxSteps; i++)
        {
            daemon.Step();
            Thread.Sleep(1000);
            if (done()) return true;
        }
        return false;
    }

    private static IEnumerable<JsonObject> Lines(StringWriter log, string evt) =>
        log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject()).Where(o => o["event"]!.GetValue<string>() == evt);

    [Fact]
    public void Squeezed_shrinks_the_guests_to_a_budget_below_what_they_hold_and_grows_them_back_when_it_rises()
    {
        RealGuests.Settle(vms.A, RealGuests.GuestBytes);
        RealGuests.Settle(vms.B, RealGuests.GuestBytes);
        var log = new StringWriter();
        var options = new DaemonOptions { Interval = TimeSpan.FromSeconds(1), HostMemoryBytes = 384 * Mib };
        using var daemon = new DaemonScope(Daemon(new SqueezedPolicy(new SqueezedOptions(), 1_000_000_000), options, log, vms.A, vms.B));
        // squeezed keeps its 64 MiB reserve free: both guests together come down to 320 MiB.
        bool shrunk = StepUntil(daemon.Daemon, () => RealGuests.Actual(vms.A) + RealGuests.Actual(vms.B) <= 322 * Mib, 12);
        long a = RealGuests.Actual(vms.A), b = RealGuests.Actual(vms.B);
        Assert.True(shrunk, $"The guests hold {a / Mib} + {b / Mib} MiB after 12 steps under a 384 MiB budget:\n{log}");
        Assert.InRange(a, 150 * Mib, 170 * Mib);
        Assert.InRange(b, 150 * Mib, 170 * Mib);
        Assert.Contains(Lines(log, "action"), o => o["vm"]!.GetValue<string>() == "a" && o["result"]!.GetValue<string>() == "applied" && o["set_mib"]!.GetValue<double>() < 256);

        daemon.Daemon.Options = options with { HostMemoryBytes = 1024 * Mib };
        bool grown = StepUntil(daemon.Daemon, () => RealGuests.Actual(vms.A) >= 255 * Mib && RealGuests.Actual(vms.B) >= 255 * Mib, 12);
        Assert.True(grown, $"The guests hold {RealGuests.Actual(vms.A) / Mib} and {RealGuests.Actual(vms.B) / Mib} MiB after 12 steps under 1 GiB:\n{log}");
    }

    [Fact]
    public void Mom_shrinks_guests_under_pressure_and_grows_one_back_that_has_too_little_available()
    {
        RealGuests.Settle(vms.A, RealGuests.GuestBytes);
        RealGuests.Settle(vms.B, RealGuests.GuestBytes);
        var log = new StringWriter();
        var options = new DaemonOptions { Interval = TimeSpan.FromSeconds(1), HostMemoryBytes = 384 * Mib, HeadroomBytes = 4 * Mib };
        using var daemon = new DaemonScope(Daemon(new MomPolicy(new MomOptions(), 1_000_000_000), options, log, vms.A, vms.B));
        // No free memory is critical: MOM takes 10% of each guest a step while it has more than 20% available.
        bool shrunk = StepUntil(daemon.Daemon, () => RealGuests.Actual(vms.A) <= 200 * Mib && RealGuests.Actual(vms.B) <= 200 * Mib, 10);
        Assert.True(shrunk, $"The guests hold {RealGuests.Actual(vms.A) / Mib} and {RealGuests.Actual(vms.B) / Mib} MiB after 10 MOM steps under 384 MiB:\n{log}");
        var setA = Lines(log, "action").Where(o => o["vm"]!.GetValue<string>() == "a" && o["result"]!.GetValue<string>() is "applied" or "clamped")
            .Select(o => o["set_mib"]!.GetValue<double>()).ToList();
        Assert.True(setA.Count >= 2 && setA.Zip(setA.Skip(1)).All(p => p.Second < p.First), $"a's targets did not fall step by step: {string.Join(", ", setA)}");

        // The guest now has little available: its balloon set so that 15% of what it holds is available.
        var first = daemon.Daemon.Vms[0].Last!;
        long used = first.ActualBytes - first.Stat("stat-available-memory");
        long low = RealGuests.Settle(vms.A, used * 100 / 85);
        daemon.Daemon.Options = options with { HostMemoryBytes = 2048 * Mib };
        // Without pressure MOM grows a guest with less than 25% available by 5% a step, until it has 25%.
        bool grown = StepUntil(daemon.Daemon, () => RealGuests.Actual(vms.A) >= low + 8 * Mib, 10);
        Assert.True(grown, $"a held {low / Mib} MiB with 15% available and {RealGuests.Actual(vms.A) / Mib} MiB after 10 MOM steps without pressure:\n{log}");
    }

    [Fact]
    public void A_guest_that_ignores_its_balloon_is_marked_stuck_and_left_alone_while_the_others_are_squeezed()
    {
        RealGuests.Settle(vms.A, RealGuests.GuestBytes);
        var log = new StringWriter();
        // c runs no balloon driver and sends no statistics, so only a configured floor lets the daemon ask it.
        var options = new DaemonOptions { Interval = TimeSpan.FromSeconds(1), HostMemoryBytes = 448 * Mib, FloorBytes = 64 * Mib, StuckAfter = 2 };
        using var daemon = new DaemonScope(Daemon(new SqueezedPolicy(new SqueezedOptions(), 1_000_000_000), options, log, vms.A, vms.C));
        bool stuck = StepUntil(daemon.Daemon, () => daemon.Daemon.Vms[1].Stuck, 8);
        Assert.True(stuck, $"c was not marked stuck in 8 steps:\n{log}");
        Assert.Equal(RealGuests.GuestBytes, RealGuests.Actual(vms.C));
        int asked = Lines(log, "action").Count(o => o["vm"]!.GetValue<string>() == "c");
        Assert.Contains(Lines(log, "stuck"), o => o["vm"]!.GetValue<string>() == "c");
        // Left alone: no more requests to c; its memory is fixed, and a is squeezed to the rest (448 - 64 reserve - 256).
        bool squeezed = StepUntil(daemon.Daemon, () => Math.Abs(RealGuests.Actual(vms.A) - 128 * Mib) <= 2 * Mib, 10);
        Assert.True(squeezed, $"a holds {RealGuests.Actual(vms.A) / Mib} MiB, not 128, with c stuck:\n{log}");
        Assert.Equal(asked, Lines(log, "action").Count(o => o["vm"]!.GetValue<string>() == "c" && o["result"]!.GetValue<string>() != "refused"));
        Assert.Contains("memvisor_vm_stuck{vm=\"c\"} 1", daemon.Daemon.Metrics.Render());
        Assert.Contains("memvisor_vm_stuck{vm=\"a\"} 0", daemon.Daemon.Metrics.Render());
    }

    [Fact]
    public async Task The_command_serves_metrics_stops_cleanly_on_SIGTERM_leaving_the_guests_as_asked_and_a_dry_run_changes_nothing()
    {
        RealGuests.Settle(vms.A, RealGuests.GuestBytes);
        RealGuests.Settle(vms.B, RealGuests.GuestBytes);
        string logPath = Path.Combine(vms.Guests.Directory, "dry.log");
        var (code, output) = RealGuests.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "memvisor.dll"), "daemon", "--policy", "squeezed", "--interval", "1s",
            "--host-memory", "384", "--dry-run", "--steps", "3", "--log", logPath, vms.A, vms.B], TimeSpan.FromMinutes(2));
        Assert.True(code == 0, output);
        var dry = File.ReadAllLines(logPath).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Contains(dry, o => o["event"]!.GetValue<string>() == "action" && o["result"]!.GetValue<string>() == "dry-run");
        Assert.Equal(RealGuests.GuestBytes, RealGuests.Actual(vms.A));
        Assert.Equal(RealGuests.GuestBytes, RealGuests.Actual(vms.B));

        int port = Memvisor.Tests.Support.FreePort.Next();
        logPath = Path.Combine(vms.Guests.Directory, "daemon.log");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in (string[])[Path.Combine(AppContext.BaseDirectory, "memvisor.dll"), "daemon", "--policy", "squeezed", "--interval", "1s",
                     "--host-memory", "384", "--metrics", $"127.0.0.1:{port}", "--log", logPath, vms.Guests.Directory])
            info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while ((!File.Exists(logPath) || File.ReadAllLines(logPath).Count(l => l.Contains("\"event\":\"step\"", StringComparison.Ordinal)) < 4) && DateTime.UtcNow < deadline && !p.HasExited)
                Thread.Sleep(250);
            using var http = new HttpClient();
            string metrics = await http.GetStringAsync($"http://127.0.0.1:{port}/metrics");
            Assert.Contains("memvisor_vm_actual_bytes{vm=\"a\"}", metrics);
            Assert.Contains("memvisor_vm_stuck{vm=\"c\"}", metrics);
            Assert.Matches(@"memvisor_steps_total [1-9]", metrics);
            Assert.Matches("memvisor_actions_total\\{kind=\"mem-set\",result=\"applied\"\\} [1-9]", metrics);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"http://127.0.0.1:{port}/other")).StatusCode);

            Assert.Equal(0, RealGuests.Run("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10)).Code);
            Assert.True(p.WaitForExit(15_000), "The daemon did not stop within 15 s of SIGTERM.");
            Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {p.StandardError.ReadToEnd()}");
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        }
        var lines = File.ReadAllLines(logPath).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Equal("stop", lines[^1]["event"]!.GetValue<string>());
        Assert.Equal("signal", lines[^1]["why"]!.GetValue<string>());
        // Left as asked last: each guest settles at the last target the daemon set, not back at its full size.
        foreach (var (name, socket) in new[] { ("a", vms.A), ("b", vms.B) })
        {
            double last = lines.Last(o => o["event"]!.GetValue<string>() == "action" && o["vm"]!.GetValue<string>() == name && o["result"]!.GetValue<string>() is "applied" or "clamped")["set_mib"]!.GetValue<double>();
            Thread.Sleep(2000);
            Assert.InRange(RealGuests.Actual(socket) / (double)Mib, last - 1, last + 1);
        }
    }

    [Fact]
    public void Record_writes_a_scenario_that_validates_and_whose_replay_holds_what_the_guest_used_over_time()
    {
        string outDir = Path.Combine(vms.Guests.Directory, "recorded");
        // d's churn holds 48 MiB for 20 s and frees it for 20 s: any 30 s see it rise or fall.
        var (code, output) = RealGuests.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "memvisor.dll"), "record", "--duration", "30s", "--interval", "1s",
            "--host-memory", "1024", "--out", outDir, Path.Combine(vms.Guests.Directory, "d.qmp")], TimeSpan.FromMinutes(2));
        Assert.True(code == 0, output);
        var rows = File.ReadAllLines(Path.Combine(outDir, "recording.csv")).Skip(1).Select(l => l.Split(',')).Where(f => f[3].Length > 0)
            .Select(f => (T: double.Parse(f[1], CultureInfo.InvariantCulture), Used: double.Parse(f[3], CultureInfo.InvariantCulture))).ToList();
        Assert.True(rows.Count >= 25, $"{rows.Count} samples with statistics in 30 s");
        double low = rows.Min(r => r.Used), high = rows.Max(r => r.Used);
        Assert.True(high - low >= 40, $"The churning guest's use moved only {low}..{high} MiB in 30 s");

        string scenario = Path.Combine(outDir, "scenario.yaml");
        var (valid, said) = RealGuests.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "memvisor.dll"), "validate", scenario], TimeSpan.FromMinutes(1));
        Assert.True(valid == 0, said);
        string runDir = Path.Combine(vms.Guests.Directory, "replayed");
        var (ran, runSaid) = RealGuests.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "memvisor.dll"), "run", scenario, "--quiet", "--out", runDir], TimeSpan.FromMinutes(3));
        Assert.True(ran == 0, runSaid);
        var series = File.ReadAllLines(Path.Combine(runDir, "timeseries.csv"));
        var header = series[0].Split(',');
        int time = Array.IndexOf(header, "time_s"), anon = Array.IndexOf(header, "d_anon_pages");
        Assert.True(anon >= 0, series[0]);
        var replay = series.Skip(1).Select(l => l.Split(',')).Select(f => (T: double.Parse(f[time], CultureInfo.InvariantCulture), Mib: double.Parse(f[anon], CultureInfo.InvariantCulture) / 256)).ToList();
        // The replay's anonymous memory follows the recorded use above its least, within 2 MiB chunks and the C library's start-up pages.
        int close = 0, compared = 0;
        foreach (var (t, mib) in replay.Where(r => r.T >= 1))
        {
            var recorded = rows.OrderBy(r => Math.Abs(r.T - t)).First();
            if (Math.Abs(recorded.T - t) > 0.01) continue;
            compared++;
            if (Math.Abs(mib - (recorded.Used - low)) <= 4) close++;
        }
        Assert.True(compared >= 20 && close >= compared * 0.8, $"{close} of {compared} replayed samples within 4 MiB of the recording");
    }


    // Disposes the daemon's VM connections at the end of a test.
    private sealed class DaemonScope(HostDaemon daemon) : IDisposable
    {
        public HostDaemon Daemon => daemon;
        public void Dispose()
        {
            foreach (var v in daemon.Vms) v.Vm.Dispose();
        }
    }
}
