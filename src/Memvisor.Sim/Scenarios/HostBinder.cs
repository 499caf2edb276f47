using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Compression;
using Memvisor.Hypervisor.Paging;
using Memvisor.Hypervisor.Personalities;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Hypervisor.Tmem;
using Memvisor.Machine.Frames;
using YamlDotNet.RepresentationModel;

namespace Memvisor.Sim.Scenarios;

/// <summary>Binds <c>host:</c> or one entry of <c>hosts:</c>: its name, memory, NUMA nodes, dom0 and the overcommit mechanisms it turns on.</summary>
internal static class HostBinder
{
    private static readonly string[] HostKeys = ["name", "memory", "hypervisor", "numa_nodes", "nodes", "tiering", "dom0", "large_pages", "sharing", "paging", "compression", "tmem", "link"];
    private static readonly string[] LinkKeys = ["bandwidth", "latency"];
    private static readonly string[] Dom0Keys = ["memory", "min"];

    /// <param name="path">The field's path: host, or hosts[i] (where a name is required).</param>
    internal static HostSpec? BindHost(YamlBinder b, YamlNode node, string path)
    {
        bool listed = path != "host";
        // With nodes: the host's memory is theirs, and memory: may be left out.
        bool tiered = node is YamlMappingNode map && map.Children.Any(c => (c.Key as YamlScalarNode)?.Value == "nodes");
        string[] required = listed ? ["name", "memory"] : ["memory"];
        var f = b.Fields(node, path, HostKeys, required.Where(k => !tiered || k != "memory").ToArray());
        string name = HostSpec.DefaultName;
        if (f.TryGetValue("name", out var nm) && b.String(nm, $"{path}.name") is { } given)
        {
            if (given.Length is > 0 and <= 64 && given.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')) name = given;
            else b.Error(nm, $"{path}.name", $"'{given}' is not a host name; use one to 64 letters, digits, '-', '_' and '.'.");
        }
        YamlNode? m = f.GetValueOrDefault("memory"), nn = f.GetValueOrDefault("numa_nodes"), tn = null;
        long? memory = m is not null ? b.Size(m, $"{path}.memory") : null;
        int nodes = nn is not null ? (int)(b.Integer(nn, $"{path}.numa_nodes", 1, 64) ?? 1) : 1;
        IReadOnlyList<Memvisor.Machine.Tiers.MemoryNodeSpec>? tiers = null;
        if (f.TryGetValue("nodes", out tn))
        {
            if (nn is not null) b.Error(nn, $"{path}.numa_nodes", "give numa_nodes (like DRAM nodes) or nodes (nodes of given kinds and sizes), not both.");
            tiers = NodesBinder.Bind(b, tn, $"{path}.nodes");
            // A bad node leaves the host without memory; the rest of it is still checked.
            long? sum = tiers is null ? null : tiers.Sum(t => t.Frames) * PageSize.Bytes;
            if (memory is not null && sum is not null && memory != sum)
                b.Error(m, $"{path}.memory", $"the host's memory ({Units.FormatSize(memory.Value)}) is not the sum of its nodes' ({Units.FormatSize(sum.Value)}); give one or make them agree.");
            memory = sum;
            nodes = tiers?.Count ?? 1;
        }
        long dom0 = 1L << 30, dom0Min = -1;
        if (f.TryGetValue("dom0", out var d0))
        {
            var g = b.Fields(d0, $"{path}.dom0", Dom0Keys, ["memory"]);
            if (g.TryGetValue("memory", out var dm) && b.Size(dm, $"{path}.dom0.memory") is long d0m)
            {
                if (d0m < ScenarioLimits.MinDomainBytes)
                    b.Error(dm, $"{path}.dom0.memory", $"dom0 runs a guest kernel and needs at least {Units.FormatSize(ScenarioLimits.MinDomainBytes)}, not {Units.FormatSize(d0m)}.");
                else dom0 = d0m;
            }
            if (g.TryGetValue("min", out var mn)) dom0Min = b.Size(mn, $"{path}.dom0.min") ?? -1;
            if (dom0Min > dom0) b.Error(g["min"], $"{path}.dom0.min", $"dom0's minimum ({Units.FormatSize(dom0Min)}) is above its memory ({Units.FormatSize(dom0)}).");
        }
        if (memory is null) return null;
        if (memory < 64L << 20 || memory > ScenarioLimits.MaxHostBytes)
        {
            b.Error(m ?? tn, m is null ? $"{path}.nodes" : $"{path}.memory", $"a host has between 64MiB and {Units.FormatSize(ScenarioLimits.MaxHostBytes)} of memory, not {Units.FormatSize(memory.Value)}.");
            return null;
        }
        // The hypervisor's own frames and dom0 live on node 0, the DRAM with the CPUs: it must hold them.
        if (tiers is not null)
        {
            long xen = (PageSize.FromBytes(memory.Value) * Host.XenBytesPerFrame + PageSize.Bytes - 1) / PageSize.Bytes * PageSize.Bytes;
            long node0 = tiers[0].Frames * PageSize.Bytes;
            if (node0 < xen + dom0)
                b.Error(NodesBinder.MemoryNode(tn!, 0), $"{path}.nodes[0].memory",
                    $"node 0 holds the hypervisor's own {Units.FormatSize(xen)} and dom0's {Units.FormatSize(dom0)}, so it needs at least {Units.FormatSize(xen + dom0)}, not {Units.FormatSize(node0)}.");
        }
        var personality = HostPersonality.Xen;
        if (f.TryGetValue("hypervisor", out var hn) && b.OneOf(hn, $"{path}.hypervisor", HostPersonality.Names) is { } hname)
            personality = HostPersonality.Find(hname)!;
        var overcommit = BindOvercommit(b, f, path, memory.Value, personality);
        if (f.TryGetValue("tiering", out var tr))
        {
            if (tiers is null) b.Error(tr, $"{path}.tiering", "tiering moves pages between memory nodes of different kinds; give the host 'nodes'.");
            else overcommit = overcommit with
            {
                Tiering = NodesBinder.BindTiering(b, tr, $"{path}.tiering", hasNvme: tiers.Any(t => t.Kind == Memvisor.Machine.Tiers.MemoryKind.Nvme)),
            };
        }
        RefuseMissing(b, f, path, personality);
        var link = new LinkSpec();
        if (f.TryGetValue("link", out var ln))
        {
            var g = b.Fields(ln, $"{path}.link", LinkKeys, []);
            if (g.TryGetValue("bandwidth", out var bw) && b.SizeRate(bw, $"{path}.link.bandwidth", ScenarioLimits.MaxLinkBytesPerSecond) is double rate)
            {
                if (rate < ScenarioLimits.MinLinkBytesPerSecond)
                    b.Error(bw, $"{path}.link.bandwidth", $"a migration link carries at least {Units.FormatSize((long)ScenarioLimits.MinLinkBytesPerSecond)}/s, so that a migration ends.");
                else link = link with { BandwidthBytesPerSecond = rate };
            }
            if (g.TryGetValue("latency", out var lt) && b.Duration(lt, $"{path}.link.latency") is long latency)
            {
                if (latency > 10_000_000_000L) b.Error(lt, $"{path}.link.latency", "a migration link's latency is at most 10s.");
                else link = link with { LatencyNs = latency };
            }
        }
        return new HostSpec(memory.Value, nodes, dom0, dom0Min < 0 ? dom0 : dom0Min) { Name = name, Overcommit = overcommit, Link = link, Nodes = tiers };
    }

    private static readonly KeyTable<SharingOptions> Sharing = new(
        ("enabled", (b, n, p, s) => s with { Enabled = b.Boolean(n, p) ?? true }),
        ("scan_rate", (b, n, p, s) => s with { ScanRatePagesPerSecond = b.Rate(n, p, ScenarioLimits.MaxPageRate) ?? s.ScanRatePagesPerSecond }),
        ("max_page_sharing", (b, n, p, s) => s with { MaxPageSharing = (int)(b.Integer(n, p, 2, 65_535) ?? s.MaxPageSharing) }),
        ("inter_vm", (b, n, p, s) => s with { InterVm = b.Boolean(n, p) ?? s.InterVm }),
        ("use_zero_pages", (b, n, p, s) => s with { UseZeroPages = b.Boolean(n, p) ?? s.UseZeroPages }),
        // KSM's own knobs (Documentation/admin-guide/mm/ksm.rst): pages_to_scan every sleep_millisecs is the scan rate.
        ("pages_to_scan", (b, n, p, s) => s with { PagesToScan = (int?)b.Integer(n, p, 0, 1_000_000) }),
        ("sleep_millisecs", (b, n, p, s) => s with { SleepMillisecs = (int?)b.Integer(n, p, 1, 60_000) }));

    // KSM's pages_to_scan and sleep_millisecs (defaults 100 and 20) set the scan rate; scan_rate beside them is refused.
    private static SharingOptions KsmRate(YamlBinder b, YamlNode node, string path, SharingOptions s)
    {
        if (s.PagesToScan is null && s.SleepMillisecs is null) return s;
        if (node is YamlMappingNode m && m.Children.FirstOrDefault(c => (c.Key as YamlScalarNode)?.Value == "scan_rate").Value is { } rate)
        {
            b.Error(rate, $"{path}.sharing.scan_rate", "give the scan rate as scan_rate or as KSM's pages_to_scan and sleep_millisecs, not both.");
            return s;
        }
        return s with { ScanRatePagesPerSecond = (s.PagesToScan ?? 100) * 1000.0 / (s.SleepMillisecs ?? 20) };
    }

    private static readonly KeyTable<PagingOptions> Paging = new(
        ("swap_file", (b, n, p, o) =>
        {
            if (b.FilePath(n, p) is not var (swapFile, full)) return o;
            // Relative to the scenario's folder, as traces and images are. The file must be new or an earlier Memvisor swap file.
            if (SwapFile.WhyRefused(full, swapFile) is { } why)
            {
                b.Error(n, p, why);
                return o;
            }
            return o with { SwapFile = full, SwapFileName = swapFile };
        }),
        ("swap_size", (b, n, p, o) =>
        {
            if (b.Size(n, p) is not long swapBytes) return o;
            if (swapBytes >= PageSize.Bytes) return o with { SwapPages = PageSize.FromBytes(swapBytes) };
            b.Error(n, p, "a swap file holds at least one page (4KiB).");
            return o;
        }),
        ("policy", (b, n, p, o) => o with { Policy = b.OneOf(n, p, ["clock", "random"]) == "random" ? EvictionPolicy.Random : EvictionPolicy.Clock }),
        ("mru_size", (b, n, p, o) => o with { MruSize = (int)(b.Integer(n, p, 1, 1 << 24) ?? o.MruSize) }),
        ("rate", (b, n, p, o) => o with { RatePagesPerSecond = b.Rate(n, p, ScenarioLimits.MaxPageRate) ?? o.RatePagesPerSecond }));

    private static readonly KeyTable<CompressionOptions> Compression = new(
        ("enabled", (b, n, p, c) => c with { Enabled = b.Boolean(n, p) ?? true }),
        ("codec", (b, n, p, c) => c with { Codec = b.OneOf(n, p, ["lz4", "zstd"]) == "zstd" ? CompressionCodec.Zstd : CompressionCodec.Lz4 }),
        ("cache", (b, n, p, c) => c with { CacheShare = b.Share(n, p) ?? c.CacheShare }));

    // tmem's reserve must leave it a page of the host's memory, so its table knows the host's size.
    private static KeyTable<TmemOptions> Tmem(long hostBytes) => new(
        ("enabled", (b, n, p, t) => t with { Enabled = b.Boolean(n, p) ?? true }),
        ("compress", (b, n, p, t) => t with { Compress = b.Boolean(n, p) ?? false }),
        ("dedup", (b, n, p, t) => t with { Dedup = b.Boolean(n, p) ?? false }),
        ("reserve", (b, n, p, t) =>
        {
            if (b.Size(n, p) is not long reserve) return t;
            if (reserve < hostBytes) return t with { ReservePages = PageSize.FromBytes(reserve) };
            b.Error(n, p, $"the reserve ({Units.FormatSize(reserve)}) is not below the host's memory ({Units.FormatSize(hostBytes)}): tmem would never have a page.");
            return t;
        }));

    // A mechanism the hypervisor does not have is refused at its section, naming the hypervisor.
    private static void RefuseMissing(YamlBinder b, Dictionary<string, YamlNode> host, string path, HostPersonality p)
    {
        if (host.TryGetValue("sharing", out var sn) && !p.HasSharing)
            b.Error(sn, $"{path}.sharing", p.Lacks("page sharing") + " (Microsoft: Dynamic Memory moves memory by balloon and hot-add only).");
        if (host.TryGetValue("tmem", out var tn) && !p.HasTmem)
            b.Error(tn, $"{path}.tmem", p.Lacks("transcendent memory") + "; tmem is Xen's (xen/common/tmem.c).");
        if (host.TryGetValue("large_pages", out var ln) && p.OnDemand != OnDemandModel.FirstTouch)
            b.Error(ln, $"{path}.large_pages", $"large_pages sets how ESX and KVM back a guest's first touch, and {p.DisplayName} builds a domain's memory itself (in 2 MiB extents where they align).");
        if (host.TryGetValue("paging", out var pn) && !p.HasPagingTarget)
            b.Error(pn, $"{path}.paging", p.Lacks("hypervisor paging of running VMs") + "; Smart Paging pages only while a VM restarts.");
    }

    // host: sharing, paging, compression, tmem. A section that is present turns its mechanism on unless it says enabled: false.
    private static OvercommitOptions BindOvercommit(YamlBinder b, Dictionary<string, YamlNode> host, string path, long hostBytes, HostPersonality personality)
    {
        var o = new OvercommitOptions { Personality = personality };
        if (host.TryGetValue("sharing", out var sn))
            o = o with
            {
                Sharing = KsmRate(b, sn, path, Sharing.Bind(b, sn, $"{path}.sharing",
                    new SharingOptions { Enabled = true, InterVm = !personality.SharesWithinVmOnly, UseZeroPages = personality.SharesZeroPagesByDefault })),
            };
        if (host.TryGetValue("large_pages", out var ln)) o = o with { LargePages = b.Boolean(ln, $"{path}.large_pages") };
        if (host.TryGetValue("paging", out var pn)) o = o with { Paging = Paging.Bind(b, pn, $"{path}.paging", new PagingOptions { Configured = true }) };
        if (host.TryGetValue("compression", out var cn)) o = o with { Compression = Compression.Bind(b, cn, $"{path}.compression", new CompressionOptions { Enabled = true }) };
        if (host.TryGetValue("tmem", out var tn)) o = o with { Tmem = Tmem(hostBytes).Bind(b, tn, $"{path}.tmem", new TmemOptions { Enabled = true }) };
        return o;
    }
}
