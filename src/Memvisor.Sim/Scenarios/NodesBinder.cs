using Memvisor.Machine.Frames;
using Memvisor.Machine.Tiers;
using YamlDotNet.RepresentationModel;

namespace Memvisor.Sim.Scenarios;

/// <summary>
/// Binds a host's <c>nodes:</c>, its memory as nodes of given kinds (dram, cxl, nvm, nvme), sizes and costs: a tiered
/// host. Node 0 is DRAM (the hypervisor and dom0 live there); a node's costs default by kind (TierDefaults) and each
/// may be given (read_ns, write_ns, bandwidth).
/// </summary>
internal static class NodesBinder
{
    private static readonly string[] NodeKeys = ["kind", "memory", "read_ns", "write_ns", "bandwidth"];

    /// <summary>A node's smallest size: one 2 MiB superpage.</summary>
    public const long MinNodeBytes = 2L << 20;

    /// <summary>The memory value of node <paramref name="index"/> of a bound nodes list (for errors about it).</summary>
    public static YamlNode MemoryNode(YamlNode nodes, int index) =>
        nodes is YamlSequenceNode list && list.Children[index] is YamlMappingNode node
            && node.Children.FirstOrDefault(c => (c.Key as YamlScalarNode)?.Value == "memory").Value is { } memory ? memory : nodes;

    public static IReadOnlyList<MemoryNodeSpec>? Bind(YamlBinder b, YamlNode node, string path)
    {
        if (node is not YamlSequenceNode list || list.Children.Count == 0)
        {
            b.Error(node, path, "nodes is a list of memory nodes, each { kind: dram|cxl|nvm|nvme, memory: SIZE }.");
            return null;
        }
        if (list.Children.Count > 64)
        {
            b.Error(node, path, $"a host has at most 64 memory nodes, not {list.Children.Count}.");
            return null;
        }
        var nodes = new List<MemoryNodeSpec>();
        // Nodes sized as a share of the host's DRAM (memory: 25%), sized once every DRAM node is known.
        var shares = new List<(int Index, double Percent, YamlNode At, string Path)>();
        bool ok = true;
        for (int i = 0; i < list.Children.Count; i++)
        {
            string at = $"{path}[{i}]";
            var f = b.Fields(list.Children[i], at, NodeKeys, ["kind", "memory"]);
            var kind = f.TryGetValue("kind", out var k) && b.OneOf(k, $"{at}.kind", TierDefaults.Names) is { } name
                ? (MemoryKind)Array.IndexOf(TierDefaults.Names, name) : (MemoryKind?)null;
            // vSphere sizes its NVMe tier as a percentage of the host's DRAM (1 to 400; 25 in the tech preview, 100 at GA).
            double? percent = null;
            long? bytes = null;
            if (f.TryGetValue("memory", out var m))
            {
                if (m is YamlScalarNode { Value: { } text } && text.EndsWith('%'))
                {
                    if (kind == MemoryKind.Dram)
                        b.Error(m, $"{at}.memory", "a DRAM node's memory is a size; a share of the DRAM (N%) sizes a node of another kind.");
                    else if (double.TryParse(text.AsSpan(0, text.Length - 1), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double p)
                        && p is >= 1 and <= 400)
                        percent = p;
                    else b.Error(m, $"{at}.memory", $"'{text}' is not a share of the host's DRAM; give 1% to 400%, as vSphere's DRAM to NVMe ratio.");
                }
                else bytes = b.Size(m, $"{at}.memory");
            }
            if (percent is double share && kind is not null)
            {
                shares.Add((i, share, m!, $"{at}.memory"));
                bytes = PageSize.Bytes;
            }
            else if (bytes is < MinNodeBytes)
            {
                b.Error(m, $"{at}.memory", $"a memory node has at least {Units.FormatSize(MinNodeBytes)}, not {Units.FormatSize(bytes.Value)}.");
                bytes = null;
            }
            else if (bytes is long whole && whole % PageSize.Bytes != 0)
            {
                b.Error(m, $"{at}.memory", $"a memory node is whole 4KiB pages; {whole} bytes are not.");
                bytes = null;
            }
            if (i == 0 && kind is not null and not MemoryKind.Dram)
                b.Error(k, $"{at}.kind", "node 0 is DRAM with CPUs: the hypervisor and dom0 live there; list the other kinds after it.");
            if (kind is null || bytes is null || (i == 0 && kind != MemoryKind.Dram))
            {
                ok = false;
                continue;
            }
            var costs = TierDefaults.For(kind.Value);
            if (f.TryGetValue("read_ns", out var r) && b.Number(r, $"{at}.read_ns", 1, 1e9) is double rn) costs = costs with { ReadNs = rn };
            if (f.TryGetValue("write_ns", out var w) && b.Number(w, $"{at}.write_ns", 1, 1e9) is double wn) costs = costs with { WriteNs = wn };
            if (f.TryGetValue("bandwidth", out var bw) && b.SizeRate(bw, $"{at}.bandwidth", 8.0 * (1L << 40)) is double rate)
            {
                if (rate < 1 << 20) b.Error(bw, $"{at}.bandwidth", "a memory node's bandwidth is at least 1MiB/s.");
                else costs = costs with { BandwidthBytesPerSecond = rate };
            }
            nodes.Add(new MemoryNodeSpec(kind.Value, PageSize.FromBytes(bytes.Value), costs));
        }
        if (!ok) return null;
        long dramBytes = nodes.Where(n => n.Kind == MemoryKind.Dram).Sum(n => n.Frames) * PageSize.Bytes;
        foreach (var (index, share, yaml, at) in shares)
        {
            long sized = (long)(dramBytes * share / 100) / PageSize.Bytes * PageSize.Bytes;
            if (sized < MinNodeBytes)
            {
                b.Error(yaml, at, $"{share}% of the host's {Units.FormatSize(dramBytes)} of DRAM is less than a memory node's {Units.FormatSize(MinNodeBytes)}.");
                ok = false;
            }
            else nodes[index] = nodes[index] with { Frames = PageSize.FromBytes(sized) };
        }
        return ok ? nodes : null;
    }

    private static readonly string[] TieringKeys = ["scan_interval", "cold_after", "moves_per_scan", "write_aware", "promote_on_touch", "pressure_target", "pressure_probe_every"];

    /// <summary>host.tiering: the transparent tiering scanner's interval, when a page is cold, and how many pages a scan may move.</summary>
    public static Memvisor.Hypervisor.Tiers.TieringOptions BindTiering(YamlBinder b, YamlNode node, string path, bool hasNvme)
    {
        var options = new Memvisor.Hypervisor.Tiers.TieringOptions { Enabled = true };
        var f = b.Fields(node, path, TieringKeys, []);
        if (f.TryGetValue("scan_interval", out var si) && b.Duration(si, $"{path}.scan_interval") is long interval)
        {
            if (interval < 100_000_000) b.Error(si, $"{path}.scan_interval", "the tiering scanner looks at most ten times a second (scan_interval of 100ms or more).");
            else options = options with { ScanIntervalNs = interval };
        }
        if (f.TryGetValue("cold_after", out var ca) && b.Integer(ca, $"{path}.cold_after", 1, 255) is long cold) options = options with { ColdScans = (int)cold };
        if (f.TryGetValue("write_aware", out var wa) && b.Boolean(wa, $"{path}.write_aware") is bool aware) options = options with { WriteAware = aware };
        if (f.TryGetValue("promote_on_touch", out var pt) && b.Boolean(pt, $"{path}.promote_on_touch") is bool touch)
        {
            if (touch && !hasNvme) b.Error(pt, $"{path}.promote_on_touch", "promote_on_touch brings pages back from NVMe; give the host a node of kind nvme.");
            else options = options with { PromoteOnTouch = touch };
        }
        // TMO's pressure-driven offloading, with Senpai's pressure_ms and interval (PressureLimit).
        if (f.TryGetValue("pressure_target", out var pt2) && b.Duration(pt2, $"{path}.pressure_target") is long target)
        {
            if (target is < 1_000_000 or > 60_000_000_000) b.Error(pt2, $"{path}.pressure_target", "pressure_target is the stall a domain may take between two adjustments, from 1ms to 60s (Senpai's pressure_ms is 10ms).");
            else options = options with { PressureTargetNs = target };
        }
        // Kept without pressure_target too: compare --tiering pressure turns offloading on with the scenario's pace.
        if (f.TryGetValue("pressure_probe_every", out var pe) && b.Integer(pe, $"{path}.pressure_probe_every", 0, 1000) is long every) options = options with { PressureProbeEvery = (int)every };
        if (f.TryGetValue("moves_per_scan", out var mp) && b.Integer(mp, $"{path}.moves_per_scan", 1, 16_777_216) is long moves) options = options with { MovesPerScan = (int)moves };
        return options;
    }
}
