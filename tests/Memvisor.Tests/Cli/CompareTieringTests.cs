using System.Text.Json;
using Memvisor.Cli;
using Memvisor.Cli.Commands;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Cli;

/// <summary>memvisor compare --tiering: one run per way of tiering the same host, with the slowdown against all of its memory as DRAM.</summary>
[Collection(ConsoleCapture.Collection)]
public sealed class CompareTieringTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-cmptier-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // A guest whose Zipf pages land on CXL behind a filler that holds most of the DRAM (the tiering-cxl built-in, smaller and shorter).
    private const string Cxl = """
        name: cxl
        seed: 8
        duration: 8s
        host:
          dom0: { memory: 128MiB }
          nodes:
            - { kind: dram, memory: 512MiB }
            - { kind: cxl, memory: 512MiB }
          tiering: { scan_interval: 1s, cold_after: 2, moves_per_scan: 8192 }
        domains:
          - { name: filler, memory: 320MiB, workload: { kind: steady, working_set: 8MiB, rate: 100/s } }
          - { name: app, memory: 384MiB, workload: { kind: zipf, working_set: 352MiB, rate: 100000/s, write_fraction: 0.3 } }
        """;

    private string Write(string yaml)
    {
        string path = Path.Combine(_dir, "cxl.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    [Fact]
    public void Tiering_serves_fewer_accesses_from_CXL_than_none_and_all_DRAM_none_at_all()
    {
        string target = Path.Combine(_dir, "cmp");
        var (code, _, err) = ConsoleCapture.Run(() => CompareCommand.Run(Write(Cxl), null, null, target, jobs: 2, quiet: true, tieringList: "all-dram,none,transparent"));
        Assert.True(code == ExitCodes.Ok, err);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(target, "compare.json")));
        var runs = json.RootElement.GetProperty("policies").EnumerateArray().ToDictionary(r => r.GetProperty("name").GetString()!, r => r.GetProperty("tiers"));
        Assert.Equal(["all-dram", "none", "transparent"], runs.Keys);
        double Share(string run) => runs[run].GetProperty("slow_access_share").GetDouble();
        double Slowdown(string run) => runs[run].GetProperty("slowdown").GetDouble();
        Assert.Equal(0, Share("all-dram"));
        Assert.Equal(0, Slowdown("all-dram"));
        Assert.True(Share("none") > 0.05, $"the app's pages should start on CXL: {Share("none")}");
        Assert.True(Share("transparent") < Share("none"), $"tiering should bring hot pages home: {Share("transparent")} against {Share("none")}");
        Assert.True(Slowdown("none") > Slowdown("transparent") && Slowdown("transparent") > 0, $"{Slowdown("none")}, {Slowdown("transparent")}");
        Assert.True(runs["transparent"].GetProperty("promoted").GetInt64() > 0);
        Assert.Equal(0, runs["none"].GetProperty("promoted").GetInt64());
        // all-dram is the same memory as one DRAM node, said in a note.
        using var allDram = JsonDocument.Parse(File.ReadAllText(Path.Combine(target, "all-dram", "summary.json")));
        var nodes = allDram.RootElement.GetProperty("host").GetProperty("nodes").EnumerateArray().ToList();
        Assert.Equal("dram", Assert.Single(nodes).GetProperty("kind").GetString());
        Assert.Equal(1024L * 256, nodes[0].GetProperty("pages").GetInt64());
        Assert.Contains("made DRAM", Assert.Single(json.RootElement.GetProperty("notes").EnumerateArray()).GetString());
        Assert.Contains("ways of tiering compared", File.ReadAllText(Path.Combine(target, "report.html")));
    }

    [Theory]
    [InlineData("all-dram,fastest", "'fastest' is not a way of tiering")]
    [InlineData("nvme-tier", "no host of the scenario has a node of kind nvme")]
    public void A_way_that_does_not_apply_is_refused_before_anything_runs(string tiering, string message)
    {
        string target = Path.Combine(_dir, "cmp");
        var (code, _, err) = ConsoleCapture.Run(() => CompareCommand.Run(Write(Cxl), null, null, target, jobs: 1, quiet: true, tieringList: tiering));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains(message, err);
        Assert.False(Directory.Exists(target));
    }

    [Fact]
    public void A_host_without_nodes_of_another_kind_has_nothing_to_tier()
    {
        string target = Path.Combine(_dir, "cmp");
        var (code, _, err) = ConsoleCapture.Run(() => CompareCommand.Run(TinyScenario.Write(_dir), null, null, target, jobs: 1, quiet: true, tieringList: "none"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("nothing to tier", err);
        var (both, _, bothErr) = ConsoleCapture.Run(() => CompareCommand.Run(Write(Cxl), "static", null, target, jobs: 1, quiet: true, tieringList: "none"));
        Assert.Equal(ExitCodes.BadInput, both);
        Assert.Contains("give one", bothErr);
        Assert.False(Directory.Exists(target));
    }
}
