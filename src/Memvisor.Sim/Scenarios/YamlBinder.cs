using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Memvisor.Sim.Scenarios;

/// <summary>Reads typed values out of a YAML tree, recording a located error for every key, type or unit it cannot accept.</summary>
internal sealed class YamlBinder(string file)
{
    public List<ScenarioError> Errors { get; } = [];

    /// <summary>The scenario file being read.</summary>
    public string File => file;

    /// <summary>The folder that paths in the scenario (traces, images, the swap file) are relative to; a built-in's is the working directory.</summary>
    public string BaseDirectory => file.StartsWith("builtin:", StringComparison.Ordinal) ? Directory.GetCurrentDirectory() : Path.GetDirectoryName(Path.GetFullPath(file)) ?? ".";

    public void Error(YamlNode? node, string field, string message) =>
        Errors.Add(new ScenarioError(file, node is null ? 1 : (int)node.Start.Line, node is null ? 1 : (int)node.Start.Column, field, message));

    /// <summary>The mapping's keys, after refusing unknown and duplicate keys and reporting missing required ones.</summary>
    public Dictionary<string, YamlNode> Fields(YamlNode? node, string field, IReadOnlyCollection<string> allowed, IReadOnlyCollection<string> required)
    {
        var result = new Dictionary<string, YamlNode>();
        if (node is not YamlMappingNode map)
        {
            Error(node, field.Length == 0 ? "(file)" : field, $"expected a mapping of keys ({string.Join(", ", allowed)}).");
            return result;
        }
        foreach (var (keyNode, value) in map.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key })
            {
                Error(keyNode, field.Length == 0 ? "(file)" : field, $"a key is a plain name ({string.Join(", ", allowed)}), not a list or a mapping.");
                continue;
            }
            string path = field.Length == 0 ? key : $"{field}.{key}";
            if (!allowed.Contains(key))
                Error(keyNode, path, $"'{key}' is not a known key here; the keys are {string.Join(", ", allowed)}.");
            else if (!result.TryAdd(key, value))
                Error(keyNode, path, $"'{key}' is given twice.");
        }
        foreach (var key in required)
            if (!result.ContainsKey(key))
                Error(node, field.Length == 0 ? key : $"{field}.{key}", $"the required key '{key}' is missing.");
        return result;
    }

    public string? String(YamlNode node, string field)
    {
        if (node is YamlScalarNode { Value: { Length: > 0 } value }) return value;
        Error(node, field, "expected a value.");
        return null;
    }

    /// <summary>
    /// A file's path as the scenario wrote it and as a full path (relative paths are from <see cref="BaseDirectory"/>),
    /// or null after an error: a path holding a control character (a NUL the YAML escape \0 can write) or one the
    /// system cannot form is refused at its field.
    /// </summary>
    public (string Written, string Full)? FilePath(YamlNode node, string field)
    {
        if (String(node, field) is not { } written) return null;
        if (written.Any(char.IsControl))
        {
            Error(node, field, "a path may not hold control characters (such as a NUL or a line break).");
            return null;
        }
        try
        {
            return (written, Path.GetFullPath(Path.Combine(BaseDirectory, written)));
        }
        catch (Exception e) when (e is ArgumentException or PathTooLongException or NotSupportedException)
        {
            Error(node, field, $"'{written}' is not a path this system can use ({e.Message})");
            return null;
        }
    }

    /// <summary>A size in bytes, at most <paramref name="max"/> (16 TiB unless the field says less).</summary>
    public long? Size(YamlNode node, string field, long max = ScenarioLimits.MaxSizeBytes) =>
        Bounded(Parse<long>(node, field, Units.TryParseSize, "a size; write a number with KiB, MiB, GiB or TiB (a bare number is MiB; MB, GB and TB are refused as ambiguous)"),
            node, field, max, Units.FormatSize);

    /// <summary>A duration in ns, at most <paramref name="max"/> (31 days unless the field says less).</summary>
    public long? Duration(YamlNode node, string field, long max = ScenarioLimits.MaxDurationNs) =>
        Bounded(Parse<long>(node, field, Units.TryParseDuration, "a duration; write a number with ms, s, min or h"),
            node, field, max, ns => $"{ns / 1e9:0.###}s");

    /// <summary>A rate per second, at most <paramref name="max"/>.</summary>
    public double? Rate(YamlNode node, string field, double max)
    {
        double? rate = Parse<double>(node, field, Units.TryParseRate, "a rate; write accesses per unit of time, such as 20000/s");
        if (rate > max) { Error(node, field, $"{rate:G4} per second is above the most Memvisor runs here, {max:G4} per second."); return null; }
        return rate;
    }

    /// <summary>Bytes per second, at most <paramref name="max"/>.</summary>
    public double? SizeRate(YamlNode node, string field, double max)
    {
        double? rate = Parse<double>(node, field, Units.TryParseSizeRate, "a size per unit of time, such as 256MiB/s");
        if (rate > max) { Error(node, field, $"{Units.FormatSize((long)Math.Min(rate.Value, long.MaxValue))}/s is above the most Memvisor models, {Units.FormatSize((long)max)}/s."); return null; }
        return rate;
    }

    private long? Bounded(long? value, YamlNode node, string field, long max, Func<long, string> format)
    {
        if (value is not long v || v <= max) return value;
        Error(node, field, $"{(node as YamlScalarNode)?.Value} is above the most Memvisor accepts here, {format(max)}.");
        return null;
    }

    private delegate bool TryParse<T>(string text, out T value);

    private T? Parse<T>(YamlNode node, string field, TryParse<T> parse, string expected) where T : struct
    {
        var s = String(node, field);
        if (s is null) return null;
        if (parse(s, out T value)) return value;
        Error(node, field, $"'{s}' is not {expected}.");
        return null;
    }

    public long? Integer(YamlNode node, string field, long min, long max) =>
        Parse<long>(node, field,
            (string t, out long v) => long.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out v) && v >= min && v <= max,
            $"a whole number from {min} to {max}");

    public double? Number(YamlNode node, string field, double min, double max) =>
        Parse<double>(node, field,
            (string t, out double v) => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out v) && v >= min && v <= max,
            $"a number from {min} to {max}");

    /// <summary>A share from 0 to 1, written as a fraction (0.1) or a percentage (10%).</summary>
    public double? Share(YamlNode node, string field) =>
        Parse<double>(node, field,
            (string t, out double v) =>
            {
                bool percent = t.EndsWith('%');
                bool ok = double.TryParse(percent ? t[..^1] : t, NumberStyles.Float, CultureInfo.InvariantCulture, out v);
                if (percent) v /= 100;
                return ok && v >= 0 && v <= 1;
            },
            "a share; write a percentage such as 10% or a fraction such as 0.1");

    /// <summary>A duration that must be longer than zero.</summary>
    public long? PositiveDuration(YamlNode node, string field)
    {
        long? ns = Duration(node, field);
        if (ns is 0)
        {
            Error(node, field, "must be longer than zero.");
            return null;
        }
        return ns;
    }

    /// <summary>The period of something that recurs (a policy decision, a sampler, a self-balloon step): at least 1 ms.</summary>
    public long? Interval(YamlNode node, string field)
    {
        long? ns = Duration(node, field);
        if (ns < ScenarioLimits.MinTickNs)
        {
            Error(node, field, "an interval is at least 1ms.");
            return null;
        }
        return ns;
    }

    public bool? Boolean(YamlNode node, string field) =>
        Parse<bool>(node, field, (string t, out bool v) => (v = t is "true" or "yes" or "on") || t is "false" or "no" or "off", "true or false");

    public string? OneOf(YamlNode node, string field, IReadOnlyCollection<string> choices)
    {
        var s = String(node, field);
        if (s is null) return null;
        if (choices.Contains(s)) return s;
        Error(node, field, $"'{s}' is not one of {string.Join(", ", choices)}.");
        return null;
    }
}
