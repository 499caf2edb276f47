using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Compression;
using Memvisor.Hypervisor.Paging;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Hypervisor.Tmem;
using Memvisor.Machine.Frames;
using YamlDotNet.RepresentationModel;

namespace Memvisor.Sim.Scenarios;

/// <summary>Binds <c>host:</c>: its memory, NUMA nodes, dom0 and the overcommit mechanisms it turns on.</summary>
internal static class HostBinder
{
    private static readonly string[] HostKeys = ["memory", "numa_nodes", "dom0", "sharing", "paging", "compression", "tmem"];
    private static readonly string[] SharingKeys = ["enabled", "scan_rate", "max_page_sharing"];
    private static readonly string[] PagingKeys = ["swap_file", "swap_size", "policy", "mru_size", "rate"];
    private static readonly string[] CompressionKeys = ["enabled", "codec", "cache"];
    private static readonly string[] TmemKeys = ["enabled", "compress", "dedup", "reserve"];
    private static readonly string[] Dom0Keys = ["memory", "min"];

    internal static HostSpec? BindHost(YamlBinder b, YamlNode node)
    {
        var f = b.Fields(node, "host", HostKeys, ["memory"]);
        long? memory = f.TryGetValue("memory", out var m) ? b.Size(m, "host.memory") : null;
        int nodes = f.TryGetValue("numa_nodes", out var nn) ? (int)(b.Integer(nn, "host.numa_nodes", 1, 64) ?? 1) : 1;
        long dom0 = 1L << 30, dom0Min = -1;
        if (f.TryGetValue("dom0", out var d0))
        {
            var g = b.Fields(d0, "host.dom0", Dom0Keys, ["memory"]);
            if (g.TryGetValue("memory", out var dm) && b.Size(dm, "host.dom0.memory") is long d0m)
            {
                if (d0m < ScenarioLimits.MinDomainBytes)
                    b.Error(dm, "host.dom0.memory", $"dom0 runs a guest kernel and needs at least {Units.FormatSize(ScenarioLimits.MinDomainBytes)}, not {Units.FormatSize(d0m)}.");
                else dom0 = d0m;
            }
            if (g.TryGetValue("min", out var mn)) dom0Min = b.Size(mn, "host.dom0.min") ?? -1;
            if (dom0Min > dom0) b.Error(g["min"], "host.dom0.min", $"dom0's minimum ({Units.FormatSize(dom0Min)}) is above its memory ({Units.FormatSize(dom0)}).");
        }
        if (memory is null) return null;
        if (memory < 64L << 20 || memory > ScenarioLimits.MaxHostBytes)
        {
            b.Error(m, "host.memory", $"a host has between 64MiB and {Units.FormatSize(ScenarioLimits.MaxHostBytes)} of memory, not {Units.FormatSize(memory.Value)}.");
            return null;
        }
        var overcommit = BindOvercommit(b, f, memory.Value);
        return new HostSpec(memory.Value, nodes, dom0, dom0Min < 0 ? dom0 : dom0Min) { Overcommit = overcommit };
    }

    // host: sharing, paging, compression, tmem. A section that is present turns its mechanism on unless it says enabled: false.
    private static OvercommitOptions BindOvercommit(YamlBinder b, Dictionary<string, YamlNode> host, long hostBytes)
    {
        var o = new OvercommitOptions();
        bool Enabled(Dictionary<string, YamlNode> f, string path) => !f.TryGetValue("enabled", out var e) || (b.Boolean(e, $"{path}.enabled") ?? true);
        if (host.TryGetValue("sharing", out var sn))
        {
            var f = b.Fields(sn, "host.sharing", SharingKeys, []);
            var s = new SharingOptions { Enabled = Enabled(f, "host.sharing") };
            if (f.TryGetValue("scan_rate", out var r)) s = s with { ScanRatePagesPerSecond = b.Rate(r, "host.sharing.scan_rate", ScenarioLimits.MaxPageRate) ?? s.ScanRatePagesPerSecond };
            if (f.TryGetValue("max_page_sharing", out var m)) s = s with { MaxPageSharing = (int)(b.Integer(m, "host.sharing.max_page_sharing", 2, 65_535) ?? 256) };
            o = o with { Sharing = s };
        }
        if (host.TryGetValue("paging", out var pn))
        {
            var f = b.Fields(pn, "host.paging", PagingKeys, []);
            var p = new PagingOptions();
            if (f.TryGetValue("swap_file", out var sf) && b.FilePath(sf, "host.paging.swap_file") is var (swapFile, full))
            {
                // Relative to the scenario's folder, as traces and images are. The file must be new or an earlier Memvisor swap file.
                if (SwapFile.WhyRefused(full, swapFile) is { } why) b.Error(sf, "host.paging.swap_file", why);
                else p = p with { SwapFile = full, SwapFileName = swapFile };
            }
            if (f.TryGetValue("swap_size", out var ss) && b.Size(ss, "host.paging.swap_size") is long swapBytes)
            {
                if (swapBytes < PageSize.Bytes) b.Error(ss, "host.paging.swap_size", "a swap file holds at least one page (4KiB).");
                else p = p with { SwapPages = PageSize.FromBytes(swapBytes) };
            }
            if (f.TryGetValue("policy", out var po)) p = p with { Policy = b.OneOf(po, "host.paging.policy", ["clock", "random"]) == "random" ? EvictionPolicy.Random : EvictionPolicy.Clock };
            if (f.TryGetValue("mru_size", out var mr)) p = p with { MruSize = (int)(b.Integer(mr, "host.paging.mru_size", 1, 1 << 24) ?? p.MruSize) };
            if (f.TryGetValue("rate", out var ra)) p = p with { RatePagesPerSecond = b.Rate(ra, "host.paging.rate", ScenarioLimits.MaxPageRate) ?? p.RatePagesPerSecond };
            o = o with { Paging = p };
        }
        if (host.TryGetValue("compression", out var cn))
        {
            var f = b.Fields(cn, "host.compression", CompressionKeys, []);
            var c = new CompressionOptions { Enabled = Enabled(f, "host.compression") };
            if (f.TryGetValue("codec", out var co)) c = c with { Codec = b.OneOf(co, "host.compression.codec", ["lz4", "zstd"]) == "zstd" ? CompressionCodec.Zstd : CompressionCodec.Lz4 };
            if (f.TryGetValue("cache", out var ca)) c = c with { CacheShare = b.Share(ca, "host.compression.cache") ?? c.CacheShare };
            o = o with { Compression = c };
        }
        if (host.TryGetValue("tmem", out var tn))
        {
            var f = b.Fields(tn, "host.tmem", TmemKeys, []);
            var t = new TmemOptions { Enabled = Enabled(f, "host.tmem") };
            if (f.TryGetValue("compress", out var tc)) t = t with { Compress = b.Boolean(tc, "host.tmem.compress") ?? false };
            if (f.TryGetValue("dedup", out var td)) t = t with { Dedup = b.Boolean(td, "host.tmem.dedup") ?? false };
            if (f.TryGetValue("reserve", out var tr) && b.Size(tr, "host.tmem.reserve") is long reserve)
            {
                if (reserve >= hostBytes) b.Error(tr, "host.tmem.reserve", $"the reserve ({Units.FormatSize(reserve)}) is not below the host's memory ({Units.FormatSize(hostBytes)}): tmem would never have a page.");
                else t = t with { ReservePages = PageSize.FromBytes(reserve) };
            }
            o = o with { Tmem = t };
        }
        return o;
    }
}
