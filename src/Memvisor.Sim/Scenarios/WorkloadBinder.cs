using Memvisor.Guest.Workloads;
using Memvisor.Guest.Workloads.Trace;
using Memvisor.Machine.Frames;
using Memvisor.Native;
using YamlDotNet.RepresentationModel;

namespace Memvisor.Sim.Scenarios;

/// <summary>Binds a <c>workload:</c>, with the keys its kind needs.</summary>
internal static class WorkloadBinder
{
    private static readonly string[] WorkloadKeys =
    [
        "kind", "working_set", "rate", "write_fraction", "to", "from", "over", "period", "skew", "phases", "spawn_rate", "lifetime",
        "file_size", "parts", "path", "format", "loop", "speed", "window", "name", "samples",
    ];
    private static readonly string[] PhaseKeys = ["working_set", "duration"];
    private static readonly string[] SampleKeys = ["at", "used"];

    // The keys each kind reads; a key of another kind is refused rather than silently ignored.
    private static readonly Dictionary<string, string[]> KindKeys = new()
    {
        ["idle"] = [],
        ["steady"] = ["working_set", "rate", "write_fraction"],
        ["zipf"] = ["working_set", "rate", "write_fraction", "skew"],
        ["phases"] = ["phases", "rate", "write_fraction"],
        ["display"] = ["phases", "rate"],
        ["grow"] = ["to", "over", "rate", "write_fraction"],
        ["grow-shrink"] = ["from", "to", "period", "rate", "write_fraction"],
        ["fork-exec"] = ["spawn_rate", "lifetime", "working_set", "rate", "write_fraction"],
        ["file-streaming"] = ["file_size", "rate", "write_fraction"],
        ["mix"] = ["parts"],
        ["trace"] = ["path", "format", "loop", "speed", "window", "name"],
        ["demand"] = ["samples", "rate", "write_fraction", "loop"],
    };

    // A list key whose items are mappings of the given keys (all required), each bound by bind with its path; an error for anything else or an empty list.
    private static List<T> Items<T>(YamlBinder b, Dictionary<string, YamlNode> f, string key, string path, string[] keys, string what, Func<Dictionary<string, YamlNode>, string, T> bind)
    {
        var items = new List<T>();
        if (!f.TryGetValue(key, out var node)) return items;
        if (node is not YamlSequenceNode seq || seq.Children.Count == 0)
        {
            b.Error(node, $"{path}.{key}", $"expected {what}.");
            return items;
        }
        for (int i = 0; i < seq.Children.Count; i++)
            items.Add(bind(b.Fields(seq.Children[i], $"{path}.{key}[{i}]", keys, keys), $"{path}.{key}[{i}]"));
        return items;
    }

    internal static WorkloadSpec? BindWorkload(YamlBinder b, YamlNode node, string path)
    {
        var f = b.Fields(node, path, WorkloadKeys, ["kind"]);
        string? kind = f.TryGetValue("kind", out var k) ? b.OneOf(k, $"{path}.kind", WorkloadSpec.Kinds) : null;
        if (kind is null) return null;
        string[] needed = kind switch
        {
            "steady" or "zipf" => ["working_set", "rate"],
            "phases" or "display" => ["phases", "rate"],
            "grow" => ["to", "over"],
            "grow-shrink" => ["from", "to", "period"],
            "fork-exec" => ["spawn_rate", "lifetime", "working_set"],
            "file-streaming" => ["file_size", "rate"],
            "mix" => ["parts"],
            "trace" => ["path"],
            "demand" => ["samples"],
            _ => [],
        };
        foreach (var key in needed)
            if (!f.ContainsKey(key)) b.Error(node, $"{path}.{key}", $"a {kind} workload needs '{key}'.");
        var own = KindKeys[kind];
        foreach (var (key, value) in f)
            if (key != "kind" && !own.Contains(key))
            {
                var owners = KindKeys.Where(o => o.Value.Contains(key)).Select(o => o.Key);
                b.Error(value, $"{path}.{key}", $"a {kind} workload has no '{key}' (that is a key of {string.Join(", ", owners)}); " +
                    (own.Length == 0 ? $"a {kind} workload takes no keys besides kind." : $"a {kind} workload takes {string.Join(", ", own)}."));
            }
        long SizeOf(string key) => f.TryGetValue(key, out var n) ? b.Size(n, $"{path}.{key}", key == "file_size" ? ScenarioLimits.MaxFileBytes : ScenarioLimits.MaxSizeBytes) ?? 0 : 0;
        // Sizes a workload divides by or walks: at least a page.
        foreach (var key in (string[])["working_set", "to", "file_size"])
            if (f.TryGetValue(key, out var sn) && sn is YamlScalarNode { Value: { } text } && Units.TryParseSize(text, out long bytes) && bytes < PageSize.Bytes)
                b.Error(sn, $"{path}.{key}", $"{key} is at least one page (4KiB), not {text}.");
        long DurationOf(string key) => f.TryGetValue(key, out var n) ? b.Duration(n, $"{path}.{key}") ?? 0 : 0;
        long ws = SizeOf("working_set"), to = SizeOf("to"), from = SizeOf("from");
        if (from > to && f.ContainsKey("to")) b.Error(f["from"], $"{path}.from", $"the size to shrink to ({Units.FormatSize(from)}) is above the size to grow to ({Units.FormatSize(to)}).");
        var phases = Items(b, f, "phases", path, PhaseKeys, "a list of at least one phase", (pf, at) =>
        {
            long set = pf.TryGetValue("working_set", out var s) ? b.Size(s, $"{at}.working_set") ?? 0 : 0;
            long dur = pf.TryGetValue("duration", out var d) ? b.PositiveDuration(d, $"{at}.duration") ?? 0 : 0;
            return new Phase(PageSize.FromBytes(set), dur);
        });
        long last = -1;
        var demand = Items(b, f, "samples", path, SampleKeys, "a list of at least one sample ({ at: 10s, used: 120MiB })", (sf, at) =>
        {
            long t = sf.TryGetValue("at", out var a) ? b.Duration(a, $"{at}.at") ?? 0 : 0;
            long used = sf.TryGetValue("used", out var u) ? b.Size(u, $"{at}.used") ?? 0 : 0;
            if (t <= last && sf.TryGetValue("at", out var late)) b.Error(late, $"{at}.at", "samples are in time order, each later than the one before.");
            last = t;
            return new DemandSample(t, PageSize.FromBytes(used));
        });
        var parts = new List<WorkloadSpec>();
        if (f.TryGetValue("parts", out var partsNode))
        {
            if (partsNode is not YamlSequenceNode seq || seq.Children.Count == 0) b.Error(partsNode, $"{path}.parts", "expected a list of at least one workload.");
            else
                for (int i = 0; i < seq.Children.Count; i++)
                    if (BindWorkload(b, seq.Children[i], $"{path}.parts[{i}]") is { } part) parts.Add(part);
        }
        string? tracePath = null;
        if (f.TryGetValue("path", out var tp) && b.FilePath(tp, $"{path}.path") is var (_, fullTrace))
        {
            tracePath = fullTrace;
            var fileKind = FileStat.KindOf(tracePath);
            if (fileKind == FileKind.Missing) b.Error(tp, $"{path}.path", $"there is no trace file at {tracePath}.");
            // A FIFO or a device would never end a replay; a directory cannot be read.
            else if (fileKind != FileKind.Regular) b.Error(tp, $"{path}.path", $"the trace {tracePath} is {FileStat.Describe(fileKind)}, not a regular file.");
        }
        string format = f.TryGetValue("format", out var fm) ? b.OneOf(fm, $"{path}.format", ["auto", .. TraceFile.Formats]) ?? "auto" : "auto";
        return new WorkloadSpec
        {
            Kind = kind,
            WorkingSetPages = PageSize.FromBytes(ws),
            ToPages = PageSize.FromBytes(to),
            FromPages = PageSize.FromBytes(from),
            RatePerSecond = f.TryGetValue("rate", out var r) ? b.Rate(r, $"{path}.rate", ScenarioLimits.MaxAccessRate) ?? 0 : 0,
            WriteFraction = f.TryGetValue("write_fraction", out var wf) ? b.Number(wf, $"{path}.write_fraction", 0, 1) ?? 0.3 : 0.3,
            OverNs = kind == "grow-shrink" ? DurationOf("period") : DurationOf("over"),
            Skew = f.TryGetValue("skew", out var sk) ? b.Number(sk, $"{path}.skew", 0.01, 10) ?? 0.99 : 0.99,
            Phases = phases,
            SpawnsPerSecond = f.TryGetValue("spawn_rate", out var sr) ? b.Rate(sr, $"{path}.spawn_rate", ScenarioLimits.MaxSpawnRate) ?? 0 : 0,
            LifetimeNs = DurationOf("lifetime"),
            FilePages = PageSize.FromBytes(SizeOf("file_size")),
            Parts = parts,
            TracePath = tracePath,
            TraceFormat = format,
            Loop = f.TryGetValue("loop", out var lp) && (b.Boolean(lp, $"{path}.loop") ?? false),
            // At speed 1 a trace replays 10^8 records a simulated second, the most any workload may ask for.
            Speed = f.TryGetValue("speed", out var spd) ? b.Number(spd, $"{path}.speed", 1e-6, ScenarioLimits.MaxAccessRate / TraceWorkload.RecordsPerSecondAtSpeed1) ?? 1.0 : 1.0,
            WindowNs = f.TryGetValue("window", out var wn) ? b.PositiveDuration(wn, $"{path}.window") ?? 1_000_000_000 : 1_000_000_000,
            ProcessName = f.TryGetValue("name", out var pnm) ? b.String(pnm, $"{path}.name") : null,
            Demand = demand,
        };
    }
}
