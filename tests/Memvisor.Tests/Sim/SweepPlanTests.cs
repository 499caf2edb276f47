using Memvisor.Sim.Scenarios;
using Memvisor.Sim.Sweeps;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Sim;

/// <summary>A sweep's points: crossed or zipped axes, values set by key path in the base scenario, located errors.</summary>
public sealed class SweepPlanTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-sweepplan-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private SweepSpec Sweep(string axes, string mode = "cross")
    {
        TinyScenario.Write(_dir, y => y.Replace("domains:\n", "domains:\n  - { name: b, count: 2, memory: 32MiB, workload: { kind: idle } }\n"));
        string path = Path.Combine(_dir, "s.yaml");
        File.WriteAllText(path, $"name: s\nscenario: tiny.yaml\nmode: {mode}\naxes:\n{axes}");
        return SweepLoader.LoadFile(path);
    }

    private ScenarioError Refused(string axes, string mode = "cross") => Assert.Throws<ScenarioException>(() => SweepPlan.Points(Sweep(axes, mode)).ToList()).Errors[0];

    [Fact]
    public void Crossed_axes_run_the_first_slowest_and_set_each_value_by_its_path()
    {
        var spec = Sweep("  host.memory: [512MiB, 1GiB]\n  domains[b].count: [1, 2, 3]\n  seed: { from: 5, to: 6, step: 1 }\n");
        var points = SweepPlan.Points(spec).ToList();
        Assert.Equal(12, spec.PointCount);
        Assert.Equal(12, points.Count);
        Assert.Equal([("host.memory", "512MiB"), ("domains[b].count", "1"), ("seed", "5")], points[0].Values);
        Assert.Equal([("host.memory", "512MiB"), ("domains[b].count", "1"), ("seed", "6")], points[1].Values);
        Assert.Equal([("host.memory", "1GiB"), ("domains[b].count", "3"), ("seed", "6")], points[11].Values);
        var last = points[11].Scenario;
        Assert.Equal((1L << 30, 3, 6UL), (last.Host.MemoryBytes, last.Domains.Single(d => d.Name == "b").Count, last.Seed));
        // Every point's content differs, and the same point gives the same hash again.
        Assert.Equal(12, points.Select(p => p.Hash).Distinct().Count());
        Assert.Equal(points[7].Hash, SweepPlan.Point(spec, 7).Hash);
    }

    [Fact]
    public void Zipped_axes_take_their_ith_values_together()
    {
        var spec = Sweep("  host.memory: [512MiB, 1GiB]\n  seed: [7, 8]\n", mode: "zip");
        var points = SweepPlan.Points(spec).ToList();
        Assert.Equal([("host.memory", "1GiB"), ("seed", "8")], Assert.Single(points, p => p.Index == 1).Values);
        Assert.Equal(2, points.Count);
        Assert.Equal("mode", Assert.Throws<ScenarioException>(() => Sweep("  host.memory: [512MiB, 1GiB]\n  seed: [7, 8, 9]\n", mode: "zip")).Errors[0].Field);
    }

    [Fact]
    public void A_value_the_scenario_refuses_or_a_path_it_lacks_names_the_axis_in_the_sweep_file()
    {
        var tooSmall = Refused("  seed: [1]\n  host.memory: [512MiB, 1MiB]\n");
        Assert.Equal(("axes.host.memory", 6), (tooSmall.Field, tooSmall.Line));
        Assert.Contains("point 1 (seed=1, host.memory=1MiB)", tooSmall.Message);
        Assert.Contains("has no item named 'zz'", Refused("  domains[zz].count: [1]\n").Message);
        Assert.Equal("axes.domains[9].memory", Refused("  domains[9].memory: [64MiB]\n").Field);
    }

    [Fact]
    public void A_sweep_file_is_checked_by_field()
    {
        string path = Path.Combine(_dir, "bad.yaml");
        ScenarioError Bad(string text)
        {
            File.WriteAllText(path, text);
            return Assert.Single(Assert.Throws<ScenarioException>(() => SweepLoader.LoadFile(path)).Errors);
        }
        Assert.Equal("scenario", Bad("name: s\nscenario: no-such-thing\naxes: { seed: [1] }\n").Field);
        Assert.Equal("axes.seed", Bad("name: s\nscenario: default\naxes: { seed: [] }\n").Field);
        Assert.Equal("axes", Bad("name: s\nscenario: default\naxes: { seed: { from: 1, to: 50000, step: 1 }, host.memory: [1GiB, 2GiB, 3GiB] }\n").Field);
        Assert.Equal("name", Bad("name: 'a b'\nscenario: default\naxes: { seed: [1] }\n").Field);
        Assert.Equal("(syntax)", Bad("name: [\n").Field);
    }

    [Fact]
    public void The_example_sweep_has_its_24_points()
    {
        var spec = SweepLoader.LoadFile(Path.Combine(AppContext.BaseDirectory, "examples", "sweep.yaml"));
        var points = SweepPlan.Points(spec).ToList();
        Assert.Equal(24, points.Count);
        Assert.Equal(("esx", 2304L << 20, 2UL), (points[23].Scenario.Policy!.Name, points[23].Scenario.Host.MemoryBytes, points[23].Scenario.Seed));
    }

    [Fact]
    public void A_base_scenario_that_is_not_one_is_refused_in_its_own_file()
    {
        string sweep = Path.Combine(_dir, "b.yaml");
        File.WriteAllText(sweep, "name: s\nscenario: base.yaml\naxes: { seed: [1] }\n");
        foreach (var text in new[] { "", "name: [\n", "name: x\nfoo: " + new string('[', 5000) + new string(']', 5000) + "\n", TinyScenario.Yaml.Replace("duration: 2s", "duration: 0s") })
        {
            File.WriteAllText(Path.Combine(_dir, "base.yaml"), text);
            var e = Assert.Throws<ScenarioException>(() => SweepLoader.LoadFile(sweep));
            Assert.EndsWith("base.yaml", e.Errors[0].File);
        }
    }

    [Fact]
    public void Axes_of_too_many_points_are_refused_however_large_the_product()
    {
        var e = Assert.Throws<ScenarioException>(() => Sweep(string.Concat(new[] { "seed", "host.x", "host.y", "host.z" }.Select(k => $"  {k}: {{ from: 1, to: 65536, step: 1 }}\n"))));
        Assert.Equal("axes", Assert.Single(e.Errors).Field);
    }

    [Fact]
    public void Ranges_count_in_decimal_and_a_mapping_value_reads_as_yaml()
    {
        var spec = Sweep("  domains[a].workload: [{ kind: steady, working_set: 8MiB, rate: 10/s }]\n  host.memory: [512MiB]\n");
        Assert.Equal("{kind: steady, working_set: 8MiB, rate: 10/s}", SweepPlan.Point(spec, 0).Values[0].Value);
        var range = Sweep("  seed: [1]\n  domains[b].count: { from: 1, to: 3, step: 1 }\n");
        Assert.Equal(["1", "2", "3"], SweepPlan.Points(range).Select(p => p.Values[1].Value));
        var tenths = SweepLoader.Parse("name: t\nscenario: default\naxes: { x: { from: 0.1, to: 0.3, step: 0.1 } }\n", Path.Combine(_dir, "t.yaml"));
        Assert.Equal(["0.1", "0.2", "0.3"], tenths.Axes[0].Values.Select(v => ((YamlDotNet.RepresentationModel.YamlScalarNode)v).Value));
    }
}
