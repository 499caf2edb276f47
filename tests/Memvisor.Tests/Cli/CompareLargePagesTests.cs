using System.Text.Json;
using Memvisor.Cli;
using Memvisor.Cli.Commands;
using Memvisor.Sim.Scenarios;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Cli;

/// <summary>memvisor compare --large-pages: the same scenario with 2 MiB pages at neither level, the host's, the guests' or both.</summary>
[Collection(ConsoleCapture.Collection)]
public sealed class CompareLargePagesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-cmplp-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // The large-pages built-in, every guest read checked.
    private string Scenario()
    {
        string path = Path.Combine(_dir, "lp.yaml");
        File.WriteAllText(path, BuiltinScenarios.Text("large-pages").Replace("thp: always }", "thp: always, check_integrity: true }"));
        return path;
    }

    [Fact]
    public void Guest_huge_pages_cut_TLB_misses_and_walks_host_ones_shorten_walks_and_both_are_split_under_pressure()
    {
        string target = Path.Combine(_dir, "cmp");
        var (code, _, err) = ConsoleCapture.Run(() => CompareCommand.Run(Scenario(), null, null, target, jobs: 2, quiet: true, largePagesList: "small,host,guest,both"));
        Assert.True(code == ExitCodes.Ok, err);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(target, "compare.json")));
        var all = json.RootElement.GetProperty("policies").EnumerateArray().ToDictionary(r => r.GetProperty("name").GetString()!);
        Assert.Equal(["small", "host", "guest", "both"], all.Keys);
        var runs = all.ToDictionary(r => r.Key, r => r.Value.GetProperty("large_pages"));
        double D(string run, string key) => runs[run].GetProperty(key).GetDouble();
        long L(string run, string key) => runs[run].GetProperty(key).GetInt64();
        // The guests' huge pages: one TLB entry for 512 pages, and a walk that stops a level early.
        Assert.True(D("guest", "tlb_miss_share") < D("small", "tlb_miss_share") / 20, $"{D("guest", "tlb_miss_share")} against {D("small", "tlb_miss_share")}");
        Assert.True(D("guest", "refs_per_walk") < D("small", "refs_per_walk") - 1, $"{D("guest", "refs_per_walk")} against {D("small", "refs_per_walk")}");
        // The host's: the nested walk takes 3 references instead of 4 where the p2m maps 2 MiB whole.
        Assert.True(D("host", "refs_per_walk") < D("small", "refs_per_walk"), $"{D("host", "refs_per_walk")} against {D("small", "refs_per_walk")}");
        Assert.Equal(D("small", "tlb_miss_share"), D("host", "tlb_miss_share"));
        Assert.True(D("both", "refs_per_walk") < D("guest", "refs_per_walk"));
        // What they cost: ESX breaks its 2 MiB pages to share their pages once memory is low; guests split before swapping out.
        Assert.Equal(0, L("small", "host_large_pages_end") + L("small", "host_broken") + L("small", "guest_huge_pages_end"));
        Assert.True(L("both", "host_broken_sharing") > 0 && D("both", "host_split_ms") > 0, runs["both"].ToString());
        Assert.True(L("both", "host_broken") >= L("both", "host_broken_sharing") + L("both", "host_broken_paging") + L("both", "host_broken_released") + L("both", "host_broken_moved"));
        Assert.True(L("guest", "guest_huge_pages_end") > 0 && L("guest", "guest_splits_reclaim") > 0, runs["guest"].ToString());
        Assert.Equal(0, L("guest", "host_broken"));
        // A guest zeroing 2 MiB at a time makes the host back pages the workload has not touched yet.
        Assert.True(all["guest"].GetProperty("peak_host_used_mib").GetDouble() > all["small"].GetProperty("peak_host_used_mib").GetDouble());
        foreach (var r in all.Values) Assert.Equal(0, r.GetProperty("integrity_errors").GetInt64());
        Assert.Contains("Large pages", File.ReadAllText(Path.Combine(target, "report.html")));
    }

    [Fact]
    public void An_unknown_way_or_two_kinds_of_comparison_are_refused_before_anything_runs()
    {
        string target = Path.Combine(_dir, "bad");
        var (code, _, err) = ConsoleCapture.Run(() => CompareCommand.Run(Scenario(), null, null, target, jobs: 1, quiet: true, largePagesList: "small,huge"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("'huge' is not a way of using large pages", err);
        (code, _, err) = ConsoleCapture.Run(() => CompareCommand.Run(Scenario(), null, null, target, jobs: 1, quiet: true, tieringList: "none", largePagesList: "small"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("--large-pages", err);
        Assert.False(Directory.Exists(target));
    }

    [Fact]
    public void A_PV_guest_has_no_transparent_huge_pages()
    {
        const string yaml = """
            name: pv-thp
            duration: 5s
            host: { memory: 1GiB }
            domains:
              - { name: vm, memory: 256MiB, mmu: pv, guest: { thp: always }, workload: { kind: idle } }
            """;
        var error = Assert.Single(Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(yaml, "t.yaml")).Errors);
        Assert.Equal("domains[0].guest.thp", error.Field);
        Assert.Contains("PV guest has no huge pages", error.Message);
        var windows = Assert.Single(Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(yaml.Replace("mmu: pv, guest: { thp: always }", "guest: { thp: always, demand_paging: windows }"), "t.yaml")).Errors);
        Assert.Equal("domains[0].guest.thp", windows.Field);
    }
}
