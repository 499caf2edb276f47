using Memvisor.Cli;
using Memvisor.Cli.Commands;
using Memvisor.Tests.Support;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Cli;

/// <summary>memvisor sweep: every point into its own directory, merged into sweep.csv and sweep.json; finished points kept.</summary>
[Collection(ConsoleCapture.Collection)]
public sealed class SweepCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-sweep-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Sweep()
    {
        TinyScenario.Write(_dir);
        string path = Path.Combine(_dir, "s.yaml");
        File.WriteAllText(path, "name: s\nscenario: tiny.yaml\naxes:\n  host.memory: [512MiB, 768MiB]\n  seed: [1, 2]\n");
        return path;
    }

    [Fact]
    public void A_sweep_runs_every_point_merges_them_in_index_order_and_keeps_finished_points()
    {
        string sweep = Sweep(), a = Path.Combine(_dir, "a"), b = Path.Combine(_dir, "b");
        var (code, _, err) = ConsoleCapture.Run(() => SweepCommand.Run(sweep, a, jobs: 2, quiet: true));
        Assert.True(code == ExitCodes.Ok, err);
        var csv = File.ReadAllLines(Path.Combine(a, "results", "sweep.csv"));
        Assert.Equal("index,hash,host.memory,seed", string.Join(',', csv[0].Split(',').Take(4)));
        Assert.Equal(["0", "1", "2", "3"], csv.Skip(1).Select(l => l.Split(',')[0]));
        Assert.Equal(["512MiB,1", "512MiB,2", "768MiB,1", "768MiB,2"], csv.Skip(1).Select(l => string.Join(',', l.Split(',')[2..4])));
        Assert.Equal(4, Directory.GetDirectories(Path.Combine(a, "points")).Length);
        Assert.Contains("\"index\": 3", File.ReadAllText(Path.Combine(a, "results", "sweep.json")));

        // Run again: every point is kept as it was, and the merge is the same bytes.
        var points = TinyScenario.Snapshot(Path.Combine(a, "points"));
        byte[] merged = File.ReadAllBytes(Path.Combine(a, "results", "sweep.csv"));
        Assert.Equal(ExitCodes.Ok, ConsoleCapture.Run(() => SweepCommand.Run(sweep, a, jobs: 1, quiet: true)).Code);
        TinyScenario.AssertUnchanged(points, Path.Combine(a, "points"));
        Assert.Equal(merged, File.ReadAllBytes(Path.Combine(a, "results", "sweep.csv")));

        // Points run one by one (as a job array's tasks would, out of order), then merged: the same sweep.csv.
        foreach (long i in new long[] { 3, 1 })
            Assert.Equal(ExitCodes.Ok, ConsoleCapture.Run(() => SweepCommand.RunPoint(sweep, i, b)).Code);
        Assert.Equal(2, Directory.GetDirectories(Path.Combine(b, "points")).Length);
        Assert.Equal(ExitCodes.Ok, ConsoleCapture.Run(() => SweepCommand.Run(sweep, b, jobs: 1, quiet: true)).Code);
        Assert.Equal(merged, File.ReadAllBytes(Path.Combine(b, "results", "sweep.csv")));
    }

    [Fact]
    public void A_bad_sweep_or_index_is_refused_and_writes_nothing()
    {
        string sweep = Sweep(), target = Path.Combine(_dir, "out");
        var (code, _, err) = ConsoleCapture.Run(() => SweepCommand.RunPoint(sweep, 4, target));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("points 0 to 3, not 4", err);
        File.WriteAllText(sweep, "name: s\nscenario: tiny.yaml\naxes:\n  host.memory: [512MiB, 1MiB]\n");
        (code, _, err) = ConsoleCapture.Run(() => SweepCommand.Run(sweep, target, jobs: 1, quiet: true));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("s.yaml:4:3: axes.host.memory: point 1", err);
        Assert.Equal(ExitCodes.BadInput, ConsoleCapture.Run(() => SweepCommand.Plan(sweep)).Code);
        Assert.False(Directory.Exists(target));
    }

    [Fact]
    public void A_sweep_directory_with_other_files_or_an_edited_point_is_refused_and_left_as_it_is()
    {
        string sweep = Sweep(), user = Path.Combine(_dir, "user");
        Directory.CreateDirectory(user);
        File.WriteAllText(Path.Combine(user, "notes.txt"), "mine");
        var (code, _, err) = ConsoleCapture.Run(() => SweepCommand.Run(sweep, user, jobs: 1, quiet: true));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("notes.txt", err);
        Assert.Equal(["notes.txt"], Directory.EnumerateFileSystemEntries(user).Select(Path.GetFileName));

        string a = Path.Combine(_dir, "a");
        Assert.Equal(ExitCodes.Ok, ConsoleCapture.Run(() => SweepCommand.Run(sweep, a, jobs: 2, quiet: true)).Code);
        byte[] merged = File.ReadAllBytes(Path.Combine(a, "results", "sweep.csv"));
        // A point's figures edited by hand are the user's now: the sweep neither trusts nor overwrites them, and says where.
        string edited = Directory.GetDirectories(Path.Combine(a, "points"))[0];
        string pointJson = Path.Combine(edited, "point.json");
        string mine = File.ReadAllText(pointJson).Replace("\"vms_fit\": 1", "\"vms_fit\": 99");
        File.WriteAllText(pointJson, mine);
        (code, _, err) = ConsoleCapture.Run(() => SweepCommand.Run(sweep, a, jobs: 1, quiet: true));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains(Path.GetFileName(edited), err);
        Assert.Equal(mine, File.ReadAllText(pointJson));
        Assert.Equal(merged, File.ReadAllBytes(Path.Combine(a, "results", "sweep.csv")));
    }

    [Fact]
    public void A_value_given_twice_is_one_run_and_two_rows()
    {
        TinyScenario.Write(_dir);
        string sweep = Path.Combine(_dir, "d.yaml"), a = Path.Combine(_dir, "a");
        File.WriteAllText(sweep, "name: d\nscenario: tiny.yaml\naxes:\n  seed: [1, 1]\n");
        var (code, _, err) = ConsoleCapture.Run(() => SweepCommand.Run(sweep, a, jobs: 2, quiet: true));
        Assert.True(code == ExitCodes.Ok, err);
        var rows = File.ReadAllLines(Path.Combine(a, "results", "sweep.csv")).Skip(1).ToList();
        Assert.Equal(["0", "1"], rows.Select(r => r.Split(',')[0]));
        Assert.Equal(rows[0].Split(',')[1..], rows[1].Split(',')[1..]);
        Assert.Single(Directory.GetDirectories(Path.Combine(a, "points")));
    }
    [Fact]
    public void A_fit_sweep_searches_the_density_at_each_point_and_merges_it()
    {
        TinyScenario.Write(_dir);
        string sweep = Path.Combine(_dir, "f.yaml"), plain = Path.Combine(_dir, "p.yaml");
        File.WriteAllText(sweep, "name: f\nscenario: tiny.yaml\naxes:\n  host.memory: [512MiB, 768MiB]\nfit: { domain: a, max: 4, max_stall: 1% }\n");
        File.WriteAllText(plain, "name: f\nscenario: tiny.yaml\naxes:\n  host.memory: [512MiB, 768MiB]\n");
        string target = Path.Combine(_dir, "fit");
        var (code, _, err) = ConsoleCapture.Run(() => SweepCommand.Run(sweep, target, jobs: 2, quiet: true));
        Assert.True(code == ExitCodes.Ok, err);
        var csv = File.ReadAllLines(Path.Combine(target, "results", "sweep.csv"));
        Assert.EndsWith(",density", csv[0]);
        // Four tiny guests fit either host: the search stops at its cap.
        Assert.All(csv.Skip(1), row => Assert.EndsWith(",4", row));
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(target, "results", "sweep.json")));
        Assert.Equal("a", json.RootElement.GetProperty("fit").GetProperty("domain").GetString());
        Assert.All(json.RootElement.GetProperty("results").EnumerateArray(), r => Assert.Equal(4, r.GetProperty("density").GetInt32()));
        // The point's run is the best count's: four instances of a.
        var point = Directory.GetDirectories(Path.Combine(target, "points")).First();
        Assert.Contains("\"a-4\"", File.ReadAllText(Path.Combine(point, "summary.json")));
        // A fit makes other points than the same axes without it: the hashes differ.
        var plainHashes = Memvisor.Sim.Sweeps.SweepPlan.Points(Memvisor.Sim.Sweeps.SweepLoader.LoadFile(plain)).Select(p => p.Hash);
        var fitHashes = Memvisor.Sim.Sweeps.SweepPlan.Points(Memvisor.Sim.Sweeps.SweepLoader.LoadFile(sweep)).Select(p => p.Hash);
        Assert.Empty(plainHashes.Intersect(fitHashes));
    }

    [Theory]
    [InlineData("fit: { domain: nobody }", "fit.domain")]
    [InlineData("fit: { domain: a, max: 0 }", "fit.max")]
    [InlineData("fit: { domain: a, max: 5000 }", "fit.max")]
    [InlineData("fit: { max: 3 }", "fit.domain")]
    public void A_fit_that_cannot_run_is_refused_at_its_key(string fit, string field)
    {
        TinyScenario.Write(_dir);
        string sweep = Path.Combine(_dir, "bad.yaml");
        File.WriteAllText(sweep, $"name: f\nscenario: tiny.yaml\naxes:\n  seed: [1]\n{fit}\n");
        var e = Assert.Throws<ScenarioException>(() => Memvisor.Sim.Sweeps.SweepPlan.Points(Memvisor.Sim.Sweeps.SweepLoader.LoadFile(sweep)).ToList());
        Assert.Equal(field, e.Errors[0].Field);
    }
    [Fact]
    public void An_axis_of_the_fit_domains_count_is_refused_at_the_axis()
    {
        TinyScenario.Write(_dir);
        string sweep = Path.Combine(_dir, "count.yaml");
        File.WriteAllText(sweep, "name: f\nscenario: tiny.yaml\naxes:\n  domains[a].count: [1, 3]\nfit: { domain: a, max: 4 }\n");
        var e = Assert.Throws<ScenarioException>(() => Memvisor.Sim.Sweeps.SweepLoader.LoadFile(sweep));
        Assert.Equal("axes.domains[a].count", Assert.Single(e.Errors).Field);
        Assert.Equal(4, e.Errors[0].Line);
    }
}
