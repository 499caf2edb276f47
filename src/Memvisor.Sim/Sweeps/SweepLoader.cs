using System.Globalization;
using Memvisor.Sim.Scenarios;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Memvisor.Sim.Sweeps;

/// <summary>
/// Reads a sweep file: <c>name</c>, <c>scenario</c> (a scenario file, relative to the sweep file, or a built-in's
/// name), <c>mode</c> (cross or zip) and <c>axes</c>, a mapping of scenario key paths to a list of values or a range
/// <c>{ from, to, step }</c> of numbers. Errors name the file, line and field, as a scenario's do.
/// </summary>
public static class SweepLoader
{
    private static readonly string[] Keys = ["name", "scenario", "mode", "axes", "fit"];
    private static readonly string[] FitKeys = ["domain", "max", "max_stall"];
    private static readonly string[] RangeKeys = ["from", "to", "step"];
    /// <summary>The most points one sweep may have.</summary>
    public const long MaxPoints = 100_000;

    public static SweepSpec LoadFile(string path) => Parse(ScenarioLoader.ReadText(path, "sweep"), path);

    public static SweepSpec Parse(string text, string file)
    {
        var stream = new YamlStream();
        try
        {
            if (YamlLimits.Check(text, file) is { } tooBig) throw new ScenarioException([tooBig]);
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new ScenarioException([new ScenarioError(file, (int)e.Start.Line, (int)e.Start.Column, "(syntax)", $"this is not valid YAML: {(e.InnerException ?? e).Message}")]);
        }
        if (stream.Documents.Count == 0)
            throw new ScenarioException([new ScenarioError(file, 1, 1, "(file)", "the file is empty; a sweep needs name, scenario and axes.")]);
        var b = new YamlBinder(file);
        var root = stream.Documents[0].RootNode;
        var f = b.Fields(root, "(sweep)", Keys, ["name", "scenario", "axes"]);
        string? name = f.TryGetValue("name", out var n) ? b.String(n, "name") : null;
        if (name is not null && (name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            b.Error(n, "name", $"'{name}' is not a sweep name; use one to 64 letters, digits, '-', '_' and '.'.");
        bool zip = f.TryGetValue("mode", out var m) && b.OneOf(m, "mode", ["cross", "zip"]) == "zip";
        string? scenario = f.TryGetValue("scenario", out var s) ? b.String(s, "scenario") : null;
        (string Text, string File)? baseText = null;
        if (scenario is not null) baseText = BaseText(b, s!, scenario, file);
        var axes = new List<SweepAxis>();
        if (f.TryGetValue("axes", out var a))
        {
            if (a is not YamlMappingNode map || map.Children.Count == 0)
                b.Error(a, "axes", "axes is a mapping of scenario keys (host.memory, domains[web].count, policy.name, seed) to a list of values or { from, to, step }.");
            else
                foreach (var (k, v) in map.Children)
                {
                    string key = (k as YamlScalarNode)?.Value ?? "";
                    if (Values(b, v, $"axes.{key}") is { } values) axes.Add(new SweepAxis(key, values, (int)k.Start.Line, (int)k.Start.Column));
                }
        }
        if (zip && axes.Select(x => x.Values.Count).Distinct().Count() > 1)
            b.Error(m, "mode", $"zip pairs the i-th values of every axis, and the axes have {string.Join(", ", axes.Select(x => $"{x.Values.Count} ({x.Key})"))} values; give them as many, or cross them.");
        SweepFit? fit = f.TryGetValue("fit", out var fn) && baseText is { } bt ? Fit(b, fn, bt.Text, bt.File, axes) : null;
        var spec = name is null || baseText is null || b.Errors.Count > 0 ? null
            : new SweepSpec(name, file, scenario!, baseText.Value.Text, baseText.Value.File, zip, axes) { Fit = fit };
        if (spec is not null && spec.PointCount > MaxPoints)
            b.Error(a, "axes", $"the axes make {spec.PointCount:N0} points; a sweep has at most {MaxPoints:N0}.");
        if (b.Errors.Count > 0 || spec is null) throw new ScenarioException(b.Errors);
        return spec;
    }

    // fit: { domain: NAME (a domain of the base scenario), max: 1..4096 (64), max_stall: a share (1%) }.
    private static SweepFit? Fit(YamlBinder b, YamlNode node, string baseText, string baseFile, IReadOnlyList<SweepAxis> axes)
    {
        var f = b.Fields(node, "fit", FitKeys, ["domain"]);
        if (!f.TryGetValue("domain", out var d) || b.String(d, "fit.domain") is not { } domain) return null;
        var names = ScenarioLoader.Parse(baseText, baseFile).Domains.Select(x => x.Name).ToList();
        if (!names.Contains(domain))
        {
            b.Error(d, "fit.domain", $"the scenario has no domain '{domain}'; its domains are {string.Join(", ", names)}.");
            return null;
        }
        // The search sets the domain's count itself: an axis of it would label points that run the same search.
        string[] counted = [$"domains[{domain}].count", $"domains[{names.IndexOf(domain)}].count"];
        if (axes.FirstOrDefault(a => counted.Contains(a.Key)) is { } counting)
            b.Errors.Add(new ScenarioError(b.File, counting.Line, counting.Column, $"axes.{counting.Key}", $"the fit counts {domain} itself; drop this axis or fit another domain."));
        int max = f.TryGetValue("max", out var m) ? (int)(b.Integer(m, "fit.max", 1, 4096) ?? 64) : 64;
        double stall = f.TryGetValue("max_stall", out var s) ? b.Share(s, "fit.max_stall") ?? 0.01 : 0.01;
        return new SweepFit(domain, max, stall, (int)node.Start.Line, (int)node.Start.Column);
    }

    // The base scenario's text: a file beside the sweep file, or a built-in.
    private static (string, string)? BaseText(YamlBinder b, YamlNode node, string scenario, string file)
    {
        string path = Path.IsPathRooted(scenario) ? scenario : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(file)) ?? ".", scenario);
        if (File.Exists(path) || Directory.Exists(path))
        {
            try
            {
                string text = ScenarioLoader.ReadText(path, "scenario");
                // The base must be a scenario of its own: its faults are its file's, not the sweep's axes'.
                ScenarioLoader.Parse(text, path);
                return (text, path);
            }
            catch (ScenarioException e)
            {
                foreach (var error in e.Errors) b.Errors.Add(error);
                return null;
            }
        }
        if (BuiltinScenarios.Exists(scenario)) return (BuiltinScenarios.Text(scenario), $"builtin:{scenario}");
        b.Error(node, "scenario", $"'{scenario}' is neither a file beside the sweep file nor a built-in scenario (the built-ins are {string.Join(", ", BuiltinScenarios.Names)}).");
        return null;
    }

    private static List<YamlNode>? Values(YamlBinder b, YamlNode node, string field)
    {
        if (node is YamlSequenceNode list && list.Children.Count > 0) return [.. list.Children];
        if (node is YamlMappingNode)
        {
            var f = b.Fields(node, field, RangeKeys, RangeKeys);
            if (!f.TryGetValue("from", out var fr) || !f.TryGetValue("to", out var to) || !f.TryGetValue("step", out var st)) return null;
            double? from = b.Number(fr, $"{field}.from", -1e15, 1e15), end = b.Number(to, $"{field}.to", -1e15, 1e15), step = b.Number(st, $"{field}.step", 1e-9, 1e15);
            if (from is null || end is null || step is null) return null;
            double count = Math.Floor((end.Value - from.Value) / step.Value + 1e-9) + 1;
            if (count < 1 || count > MaxPoints)
            {
                b.Error(node, field, $"from {from} to {end} by {step} is {(count < 1 ? "no value" : "more values than a sweep may have")}; give 1 to {MaxPoints:N0}.");
                return null;
            }
            // In decimal, so that 0.1 steps give 0.3, not 0.30000000000000004.
            decimal first = (decimal)from.Value, by = (decimal)step.Value;
            return [.. Enumerable.Range(0, (int)count).Select(i => (YamlNode)new YamlScalarNode((first + i * by).ToString(CultureInfo.InvariantCulture)))];
        }
        b.Error(node, field, "an axis is a list of one or more values, or { from, to, step }.");
        return null;
    }
}
