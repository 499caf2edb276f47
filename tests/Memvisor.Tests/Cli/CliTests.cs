using System.Text.Json;
using System.Text.RegularExpressions;
using Memvisor.Cli;
using Memvisor.Cli.Commands;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Cli;

[Collection(ConsoleCapture.Collection)]
public class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_bad_scenario_exits_2_and_writes_no_output_directory()
    {
        string path = Path.Combine(_dir, "bad.yaml");
        File.WriteAllText(path, BuiltinText().Replace("numa_nodes: 2", "numa_nodes: 2\n  colour: blue"));
        string outDir = Path.Combine(_dir, "out");
        var (code, _, err) = ConsoleCapture.Run(() => RunCommand.Run(path, null, outDir, quiet: true));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.False(Directory.Exists(outDir));
        Assert.Empty(Directory.GetDirectories(_dir));
        Assert.Contains($"{path}:10:3: host.colour:", err);
    }

    [Fact]
    public void A_run_writes_summary_timeseries_report_and_run_figures()
    {
        string path = Path.Combine(_dir, "small.yaml");
        File.WriteAllText(path, """
            name: tiny
            seed: 3
            duration: 3s
            host: { memory: 512MiB, dom0: { memory: 128MiB } }
            domains:
              - { name: a, memory: 64MiB, workload: { kind: steady, working_set: 16MiB, rate: 1000/s } }
            events:
              - { at: 2s, action: destroy, domain: a }
            """);
        string outDir = Path.Combine(_dir, "out");
        Assert.Equal(ExitCodes.Ok, RunCommand.Run(path, 9, outDir, quiet: true));
        Assert.Equal([".memvisor-output.json", "report.html", "run.json", "summary.json", "timeseries.csv"], Directory.GetFiles(outDir).Select(f => Path.GetFileName(f)!).Order().ToArray());
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json")));
        Assert.Equal(9ul, summary.RootElement.GetProperty("seed").GetUInt64());
        Assert.Equal(131072, summary.RootElement.GetProperty("host").GetProperty("frames").GetInt64());
        var a = summary.RootElement.GetProperty("domains").EnumerateArray().Single(d => d.GetProperty("name").GetString() == "a");
        Assert.Equal("destroyed", a.GetProperty("state").GetString());
        var csv = File.ReadAllLines(Path.Combine(outDir, "timeseries.csv"));
        Assert.Equal("time_s,host_free_pages,host_scrub_pending_pages,host_hypervisor_pages,host_shared_pages,host_compression_pages,"
            + "host_tmem_pages,sharing_saved_pages,paging_swapped_pages,tmem_held_pages,guests_stall_ms,"
            + "Domain-0_tot_pages,Domain-0_target_pages,Domain-0_shared_gfns,Domain-0_paged_out_gfns,"
            + "a_tot_pages,a_target_pages,a_shared_gfns,a_paged_out_gfns,a_active_pages,a_mem_free_pages,a_cached_pages,a_anon_pages,a_swap_used_pages", csv[0]);
        Assert.EndsWith(",", csv[^1]);  // a was destroyed: its column is blank at the end
        Assert.Contains("<svg", File.ReadAllText(Path.Combine(outDir, "report.html")));
    }

    private static string BuiltinText() => Memvisor.Sim.Scenarios.BuiltinScenarios.Text("default");

    [Fact]
    public void Decide_reads_a_snapshot_and_prints_the_policy_s_actions_and_refuses_a_bad_one_by_line_and_field()
    {
        var host = new Memvisor.Policy.Snapshot.HostSnapshot
        {
            TimeNs = 10_000_000_000, TotalPages = 100_000, FreePages = 60_000,
            Domains = [new() { Name = "a", TotPages = 10_000, TargetPages = 10_000, CurrentPages = 10_000, DynamicMinPages = 5000, DynamicMaxPages = 40_000, StaticMaxPages = 40_000, FeatureBalloon = true }],
        };
        string path = Path.Combine(_dir, "snap.json");
        using (var f = File.Create(path)) Memvisor.Policy.Snapshot.SnapshotJson.Write(f, host);
        var (code, stdout, _) = ConsoleCapture.Run(() => DecideCommand.Run(path, "squeezed"));
        Assert.Equal(ExitCodes.Ok, code);
        // Plenty free: squeezed raises the domain to its dynamic-max.
        using var doc = JsonDocument.Parse(stdout);
        var action = Assert.Single(doc.RootElement.EnumerateArray().ToList());
        Assert.Equal("mem_set", action.GetProperty("kind").GetString());
        Assert.Equal(40_000, action.GetProperty("value").GetDouble());

        File.WriteAllText(path, File.ReadAllText(path).Replace("\"free_pages\": 60000", "\"free_pages\": \"lots\""));
        var (bad, _, stderr) = ConsoleCapture.Run(() => DecideCommand.Run(path, "squeezed"));
        Assert.Equal(ExitCodes.BadInput, bad);
        Assert.Matches($@"{Regex.Escape(path)}:\d+: \$\.free_pages: ", stderr);
    }
}
