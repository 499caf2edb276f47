using System.Security.Cryptography;
using System.Text;
using Memvisor.Sim.Scenarios;
using YamlDotNet.RepresentationModel;

namespace Memvisor.Sim.Sweeps;

/// <summary>One point of a sweep: its index, each axis's value, the content hash (of the axes' keys and values and the base with them set) and the scenario.</summary>
public sealed record SweepPoint(long Index, IReadOnlyList<(string Key, string Value)> Values, string Hash, Scenario Scenario)
{
    /// <summary>The point's directory name: its content hash, so that a changed point is never taken for a finished one and an unchanged one is found wherever it falls in the sweep.</summary>
    public string DirectoryName => Hash;
}

/// <summary>The points of a sweep, by index: crossed axes run the first one slowest, zipped ones take the i-th value of each.</summary>
public static class SweepPlan
{
    /// <summary>Point <paramref name="index"/> (0 to PointCount-1); a ScenarioException names the sweep file and the axis when the values make a scenario that is refused.</summary>
    public static SweepPoint Point(SweepSpec spec, long index)
    {
        if (index < 0 || index >= spec.PointCount) throw new ArgumentOutOfRangeException(nameof(index), index, $"The sweep has points 0 to {spec.PointCount - 1}.");
        var stream = new YamlStream();
        stream.Load(new StringReader(spec.ScenarioText));
        var root = stream.Documents[0].RootNode;
        var values = new List<(string, string)>();
        long rest = index;
        // Crossed: the last axis varies fastest.
        var picks = new int[spec.Axes.Count];
        for (int i = spec.Axes.Count - 1; i >= 0; i--)
        {
            int n = spec.Axes[i].Values.Count;
            picks[i] = spec.Zip ? (int)index : (int)(rest % n);
            if (!spec.Zip) rest /= n;
        }
        for (int i = 0; i < spec.Axes.Count; i++)
        {
            var axis = spec.Axes[i];
            var value = axis.Values[picks[i]];
            if (YamlPath.Set(root, axis.Key, value) is { } why)
                throw new ScenarioException([new ScenarioError(spec.File, axis.Line, axis.Column, $"axes.{axis.Key}", $"the scenario's key {axis.Key} cannot be set: {why}.")]);
            values.Add((axis.Key, Display(value)));
        }
        var text = new StringWriter();
        foreach (var (key, value) in values) text.Write($"# {key} = {value}\n");
        if (spec.Fit is { } fit) text.Write($"# {fit.Describe}\n");
        new YamlStream(new YamlDocument(root)).Save(text, assignAnchors: false);
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..12];
        Scenario scenario;
        try
        {
            scenario = ScenarioLoader.ParseTree(root, spec.ScenarioFile);
        }
        catch (ScenarioException e)
        {
            // Refused for a value the sweep set (the base alone was checked): the axis whose value first makes it so.
            var first = e.Errors[0];
            var axis = Culprit(spec, picks);
            string where = string.Join(", ", values.Select(v => $"{v.Item1}={v.Item2}"));
            throw new ScenarioException([new ScenarioError(spec.File, axis?.Line ?? 0, axis?.Column ?? 0, axis is null ? "axes" : $"axes.{axis.Key}",
                $"point {index} ({where}) makes a scenario that is refused: {first.Field}: {first.Message}")]);
        }
        if (spec.Fit is { } search && FitProblem(scenario, search) is { } problem)
            throw new ScenarioException([new ScenarioError(spec.File, search.Line, search.Column, "fit", $"point {index} ({string.Join(", ", values.Select(v => $"{v.Item1}={v.Item2}"))}): {problem}")]);
        return new SweepPoint(index, values, hash, scenario with { Name = $"{spec.Name}-{index:D5}" });
    }

    // Why a point's density search cannot run: its largest count would not fit this machine, or would name another domain's instance.
    private static string? FitProblem(Scenario scenario, SweepFit fit)
    {
        if (Lab.DensitySearch.ClashingInstance(scenario, fit.Domain, fit.MaxCount) is { } clash)
            return $"counting {fit.Domain} up to {fit.MaxCount} would name an instance '{clash}', which is another domain's; rename that domain or lower fit.max.";
        if (ScenarioChecks.MachineProblem(Lab.DensitySearch.WithCount(scenario, fit.Domain, fit.MaxCount)) is { } tooBig)
            return $"{fit.MaxCount} × {fit.Domain} cannot be modeled here: {tooBig} Lower fit.max.";
        return null;
    }

    /// <summary>Every point, in index order.</summary>
    public static IEnumerable<SweepPoint> Points(SweepSpec spec)
    {
        for (long i = 0; i < spec.PointCount; i++) yield return Point(spec, i);
    }

    // The first axis whose value, set on the base with those before it, makes the scenario refused.
    private static SweepAxis? Culprit(SweepSpec spec, int[] picks)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(spec.ScenarioText));
        var root = stream.Documents[0].RootNode;
        for (int i = 0; i < spec.Axes.Count; i++)
        {
            YamlPath.Set(root, spec.Axes[i].Key, spec.Axes[i].Values[picks[i]]);
            try
            {
                ScenarioLoader.ParseTree(root, spec.ScenarioFile);
            }
            catch (ScenarioException)
            {
                return spec.Axes[i];
            }
        }
        return null;
    }

    /// <summary>A value as one line of flow-style YAML.</summary>
    public static string Display(YamlNode node) => node switch
    {
        YamlScalarNode s => s.Value ?? "",
        YamlSequenceNode q => $"[{string.Join(", ", q.Children.Select(Display))}]",
        YamlMappingNode m => $"{{{string.Join(", ", m.Children.Select(kv => $"{Display(kv.Key)}: {Display(kv.Value)}"))}}}",
        _ => "",
    };
}
