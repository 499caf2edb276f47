using System.Diagnostics;
using System.Text.Json;
using Memvisor.Report;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Report;

/// <summary>run.json's wall-clock figures: ns per guest access, where the time went within the run's wall time, and the sharing scanner's rate.</summary>
public class RunInfoTests
{
    private const string Scenario = """
        name: timed
        seed: 3
        duration: 3s
        host: { memory: 512MiB, dom0: { memory: 128MiB }, sharing: { scan_rate: 20000/s } }
        domains:
          - { name: vm, memory: 128MiB, sharing: true, workload: { kind: steady, working_set: 32MiB, rate: 50000/s } }
        """;

    [Fact]
    public void Run_json_splits_the_wall_time_by_part_and_gives_the_guests_time_per_access()
    {
        var clock = Stopwatch.StartNew();
        var r = new Simulation(ScenarioLoader.Parse(Scenario, "t.yaml")).Run();
        double wall = clock.Elapsed.TotalSeconds;
        using var stream = new MemoryStream();
        new RunInfo(wall, 0, 0, 0).Write(stream, r);
        var json = JsonDocument.Parse(stream.ToArray()).RootElement;
        var split = json.GetProperty("wall_split_seconds");
        double guests = split.GetProperty("guests").GetDouble(), hypervisor = split.GetProperty("hypervisor").GetDouble();
        Assert.True(guests > 0 && hypervisor > 0, $"guests {guests} s, hypervisor {hypervisor} s");
        Assert.True(guests + hypervisor + split.GetProperty("policy").GetDouble() + split.GetProperty("metrics").GetDouble() <= wall + 0.001);
        long accesses = json.GetProperty("guest_accesses").GetInt64();
        Assert.True(accesses > 100_000);
        // guests is rounded to the ms in the file: allow that much per access.
        double tolerance = 0.0006e9 / accesses + 0.1;
        Assert.InRange(json.GetProperty("guest_ns_per_access").GetDouble(), guests * 1e9 / accesses - tolerance, guests * 1e9 / accesses + tolerance);
        // The scanner is part of the hypervisor's step; its rate is the pages it scanned over its own time.
        var scanner = json.GetProperty("sharing_scanner");
        double scanSeconds = scanner.GetProperty("wall_seconds").GetDouble();
        long scanned = scanner.GetProperty("pages_scanned").GetInt64();
        Assert.Equal(r.Mechanisms.Sharing.PagesScanned, scanned);
        Assert.True(scanned > 0 && scanSeconds <= hypervisor + 0.001, $"scanned {scanned} in {scanSeconds} s of {hypervisor} s");
        double rate = scanner.GetProperty("pages_per_second").GetDouble();
        if (scanSeconds > 0) Assert.InRange(rate, scanned / (scanSeconds + 0.0005) - 1, scanned / Math.Max(scanSeconds - 0.0005, 1e-9) + 1);
    }
}
