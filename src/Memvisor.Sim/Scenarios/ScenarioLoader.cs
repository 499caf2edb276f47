using Memvisor.Guest.Balloon;
using Memvisor.Guest.Hotplug;
using Memvisor.Guest.Images;
using Memvisor.Guest.Kernel;
using Memvisor.Guest.Workloads;
using Memvisor.Guest.Workloads.Trace;
using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Compression;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Hypervisor.Paging;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Hypervisor.Tmem;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using HypervisorCore = Memvisor.Hypervisor.Hypervisor;

namespace Memvisor.Sim.Scenarios;

/// <summary>
/// Loads a scenario from YAML and checks it whole before anything runs: unknown keys, bad types and units,
/// dangling references and impossible configurations (maxmem below memory, static domains that cannot fit) are
/// each reported with file, line, column and field.
/// </summary>
public static class ScenarioLoader
{
    public const string Dom0Name = "Domain-0";
    private const long MaxHostBytes = 4L << 40;

    private static readonly string[] TopKeys = ["name", "seed", "duration", "host", "domains", "events", "sim", "costs", "policy"];
    private static readonly string[] PolicyKeys =
        ["name", "interval", "reserve", "stuck_after", "uncooperative_after", "pressure_threshold", "critical_threshold", "max_change", "min_guest_free",
         "max_guest_free", "idle_tax", "sample_period", "sample_size"];
    // Which policies each setting belongs to.
    private static readonly Dictionary<string, string[]> PolicySettingOwners = new()
    {
        ["reserve"] = ["squeezed", "hyperv", "predictive"], ["stuck_after"] = ["squeezed"], ["uncooperative_after"] = ["squeezed"],
        ["pressure_threshold"] = ["mom"], ["critical_threshold"] = ["mom"], ["max_change"] = ["mom"], ["min_guest_free"] = ["mom"], ["max_guest_free"] = ["mom"],
        ["idle_tax"] = ["esx"], ["sample_period"] = ["esx"], ["sample_size"] = ["esx"],
    };
    private static readonly string[] HostKeys = ["memory", "numa_nodes", "dom0", "sharing", "paging", "compression", "tmem"];
    private static readonly string[] SharingKeys = ["enabled", "scan_rate", "max_page_sharing"];
    private static readonly string[] PagingKeys = ["swap_file", "swap_size", "policy", "mru_size", "rate"];
    private static readonly string[] CompressionKeys = ["enabled", "codec", "cache"];
    private static readonly string[] TmemKeys = ["enabled", "compress", "dedup", "reserve"];
    private static readonly string[] DomainPagingKeys = ["target"];
    private static readonly string[] Dom0Keys = ["memory", "min"];
    private static readonly string[] DomainKeys = ["name", "count", "memory", "maxmem", "allocation", "vcpus", "autostart", "guest", "workload", "sharing", "paging", "free_page_reporting", "tmem", "balloon", "selfballoon", "hotplug", "dynamic_min", "dynamic_max",
        "shares", "reservation", "limit", "startup", "minimum", "maximum", "buffer", "weight", "mmu", "mmu_options", "videoram", "image"];
    private static readonly string[] ImageKeys = ["path", "format"];
    private const string NeedsHvm = " needs an HVM domain (mmu: shadow2, shadow3 or hap): a PV domain's page tables name machine frames.";
    private static readonly string[] MmuOptionKeys = ["tlb_entries", "tagged_tlb", "walk_caches", "nested_superpages", "oos_limit", "pv_batch"];
    private static readonly string[] BalloonKeys = ["enabled", "rate", "floor"];
    private static readonly string[] SelfBalloonKeys = ["enabled", "interval", "downhysteresis", "uphysteresis", "reserve", "min_usable"];
    private static readonly string[] HotplugKeys = ["enabled", "block", "rate"];
    private static readonly string[] GuestKeys = ["swap", "kernel_image", "swappiness", "dirty_background_ratio", "dirty_expire", "check_integrity", "demand_paging"];
    private static readonly string[] WorkloadKeys =
    [
        "kind", "working_set", "rate", "write_fraction", "to", "from", "over", "period", "skew", "phases", "spawn_rate", "lifetime",
        "file_size", "parts", "path", "format", "loop", "speed", "window", "name",
    ];
    private static readonly string[] PhaseKeys = ["working_set", "duration"];
    private static readonly string[] EventKeys = ["at", "action", "domain", "memory"];
    private static readonly string[] SimKeys = ["tick", "sample"];
    private static readonly string[] Actions = ["create", "destroy", "mem-set", "mem-max", "paging-target", "hot-add", "hot-remove"];

    public static Scenario LoadFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ScenarioException([new ScenarioError(path, 0, 0, "(file)", $"the file could not be read: {e.Message}")]);
        }
        return Parse(text, path);
    }

    public static Scenario Parse(string text, string file)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new ScenarioException([new ScenarioError(file, (int)e.Start.Line, (int)e.Start.Column, "(syntax)", $"this is not valid YAML: {e.InnerException?.Message ?? e.Message}")]);
        }
        if (stream.Documents.Count == 0)
            throw new ScenarioException([new ScenarioError(file, 1, 1, "(file)", "the file is empty; a scenario needs at least name, duration, host and domains.")]);

        var b = new YamlBinder(file);
        var scenario = Bind(b, stream.Documents[0].RootNode, file);
        if (b.Errors.Count > 0 || scenario is null) throw new ScenarioException(b.Errors);
        return scenario;
    }

    private static Scenario? Bind(YamlBinder b, YamlNode root, string file)
    {
        var top = b.Fields(root, "", TopKeys, ["name", "duration", "host", "domains"]);
        string name = top.TryGetValue("name", out var n) ? b.String(n, "name") ?? "" : "";
        ulong seed = top.TryGetValue("seed", out var s) ? (ulong)(b.Integer(s, "seed", 0, long.MaxValue) ?? 0) : 0;
        long duration = top.TryGetValue("duration", out var du) ? b.Duration(du, "duration") ?? 0 : 0;
        if (top.ContainsKey("duration") && duration == 0 && b.Errors.Count == 0) b.Error(du, "duration", "a scenario must last longer than zero.");

        HostSpec? host = top.TryGetValue("host", out var h) ? BindHost(b, h) : null;

        long tick = 100_000_000, sample = 1_000_000_000;
        if (top.TryGetValue("sim", out var simNode))
        {
            var sim = b.Fields(simNode, "sim", SimKeys, []);
            if (sim.TryGetValue("tick", out var t)) tick = PositiveDuration(b, t, "sim.tick") ?? tick;
            if (sim.TryGetValue("sample", out var sa)) sample = PositiveDuration(b, sa, "sim.sample") ?? sample;
        }

        PolicySpec? policy = top.TryGetValue("policy", out var pn) ? BindPolicy(b, pn) : null;

        var costs = new Dictionary<string, double>();
        if (top.TryGetValue("costs", out var costNode))
        {
            var fields = b.Fields(costNode, "costs", CostModel.Names.ToArray(), []);
            foreach (var (key, value) in fields)
                if (b.Number(value, $"costs.{key}", 0, 1e15) is double v) costs[key] = v;
        }

        var domains = new List<DomainSpec>();
        if (top.TryGetValue("domains", out var dn))
        {
            if (dn is not YamlSequenceNode seq || seq.Children.Count == 0)
                b.Error(dn, "domains", "expected a list of at least one domain.");
            else
                for (int i = 0; i < seq.Children.Count; i++)
                    if (BindDomain(b, seq.Children[i], $"domains[{i}]") is { } d) domains.Add(d);
        }

        var events = new List<ActionSpec>();
        if (top.TryGetValue("events", out var en))
        {
            if (en is not YamlSequenceNode seq)
                b.Error(en, "events", "expected a list of actions.");
            else
                for (int i = 0; i < seq.Children.Count; i++)
                    if (BindEvent(b, seq.Children[i], $"events[{i}]", duration) is { } e) events.Add(e);
        }

        if (host is null || b.Errors.Count > 0) return null;
        var scenario = new Scenario
        {
            Name = name, Source = file, Seed = seed, DurationNs = duration, Host = host, Domains = domains,
            Events = events.OrderBy(e => e.AtNs).ToList(), TickNs = tick, SampleNs = sample, Costs = costs, Policy = policy,
        };
        CheckNames(b, root, scenario);
        CheckEvents(b, root, scenario);
        CheckFit(b, root, scenario);
        return scenario;
    }

    // policy: { name, interval, ... } with the named policy's own settings.
    private static PolicySpec? BindPolicy(YamlBinder b, YamlNode node)
    {
        var f = b.Fields(node, "policy", PolicyKeys, ["name"]);
        var spec = new PolicySpec();
        if (f.TryGetValue("name", out var n)) spec = spec with { Name = b.OneOf(n, "policy.name", PolicySpec.Names) ?? spec.Name };
        if (f.TryGetValue("interval", out var i)) spec = spec with { IntervalNs = PositiveDuration(b, i, "policy.interval") ?? spec.IntervalNs };
        var sq = spec.Squeezed;
        if (f.TryGetValue("reserve", out var r) && b.Size(r, "policy.reserve") is long reserve)
        {
            sq = sq with { ReservePages = PageSize.FromBytes(reserve) };
            spec = spec with { HyperV = spec.HyperV with { ReservePages = PageSize.FromBytes(reserve) }, Predictive = spec.Predictive with { ReservePages = PageSize.FromBytes(reserve) } };
        }
        if (f.TryGetValue("stuck_after", out var sa)) sq = sq with { StuckAfter = (int)(b.Integer(sa, "policy.stuck_after", 1, 1000) ?? sq.StuckAfter) };
        if (f.TryGetValue("uncooperative_after", out var ua)) sq = sq with { UncooperativeAfter = (int)(b.Integer(ua, "policy.uncooperative_after", 1, 1000) ?? sq.UncooperativeAfter) };
        var mom = spec.Mom;
        double? Share(string key) => f.TryGetValue(key, out var v) ? b.Share(v, $"policy.{key}") : null;
        mom = mom with
        {
            PressureThreshold = Share("pressure_threshold") ?? mom.PressureThreshold,
            CriticalThreshold = Share("critical_threshold") ?? mom.CriticalThreshold,
            MaxChange = Share("max_change") ?? mom.MaxChange,
            MinGuestFree = Share("min_guest_free") ?? mom.MinGuestFree,
            MaxGuestFree = Share("max_guest_free") ?? mom.MaxGuestFree,
        };
        var esx = spec.Esx;
        if (f.TryGetValue("idle_tax", out var tax)) esx = esx with { IdleTax = b.Share(tax, "policy.idle_tax") is double t ? Math.Min(t, 0.99) : esx.IdleTax };
        var activity = spec.Activity;
        if (f.TryGetValue("sample_period", out var sp)) activity = activity with { PeriodNs = PositiveDuration(b, sp, "policy.sample_period") ?? activity.PeriodNs };
        if (f.TryGetValue("sample_size", out var ss)) activity = activity with { SampleSize = (int)(b.Integer(ss, "policy.sample_size", 1, 256) ?? activity.SampleSize) };
        foreach (var (key, owners) in PolicySettingOwners)
            if (f.ContainsKey(key) && !owners.Contains(spec.Name))
                b.Error(f[key], $"policy.{key}", $"'{key}' is a setting of {string.Join(" and ", owners)}, not of {spec.Name}.");
        return spec with { Squeezed = sq, Mom = mom, Esx = esx, Activity = activity };
    }

    private static HostSpec? BindHost(YamlBinder b, YamlNode node)
    {
        var f = b.Fields(node, "host", HostKeys, ["memory"]);
        long? memory = f.TryGetValue("memory", out var m) ? b.Size(m, "host.memory") : null;
        int nodes = f.TryGetValue("numa_nodes", out var nn) ? (int)(b.Integer(nn, "host.numa_nodes", 1, 64) ?? 1) : 1;
        long dom0 = 1L << 30, dom0Min = -1;
        if (f.TryGetValue("dom0", out var d0))
        {
            var g = b.Fields(d0, "host.dom0", Dom0Keys, ["memory"]);
            if (g.TryGetValue("memory", out var dm)) dom0 = b.Size(dm, "host.dom0.memory") ?? dom0;
            if (g.TryGetValue("min", out var mn)) dom0Min = b.Size(mn, "host.dom0.min") ?? -1;
            if (dom0Min > dom0) b.Error(g["min"], "host.dom0.min", $"dom0's minimum ({Units.FormatSize(dom0Min)}) is above its memory ({Units.FormatSize(dom0)}).");
        }
        if (memory is null) return null;
        if (memory < 64L << 20 || memory > MaxHostBytes)
        {
            b.Error(m, "host.memory", $"a host has between 64MiB and {Units.FormatSize(MaxHostBytes)} of memory, not {Units.FormatSize(memory.Value)}.");
            return null;
        }
        var overcommit = BindOvercommit(b, f);
        return new HostSpec(memory.Value, nodes, dom0, dom0Min < 0 ? dom0 : dom0Min) { Overcommit = overcommit };
    }

    // host: sharing, paging, compression, tmem. A section that is present turns its mechanism on unless it says enabled: false.
    private static OvercommitOptions BindOvercommit(YamlBinder b, Dictionary<string, YamlNode> host)
    {
        var o = new OvercommitOptions();
        bool Enabled(Dictionary<string, YamlNode> f, string path) => !f.TryGetValue("enabled", out var e) || (b.Boolean(e, $"{path}.enabled") ?? true);
        if (host.TryGetValue("sharing", out var sn))
        {
            var f = b.Fields(sn, "host.sharing", SharingKeys, []);
            var s = new SharingOptions { Enabled = Enabled(f, "host.sharing") };
            if (f.TryGetValue("scan_rate", out var r)) s = s with { ScanRatePagesPerSecond = b.Rate(r, "host.sharing.scan_rate") ?? s.ScanRatePagesPerSecond };
            if (f.TryGetValue("max_page_sharing", out var m)) s = s with { MaxPageSharing = (int)(b.Integer(m, "host.sharing.max_page_sharing", 2, 65_535) ?? 256) };
            o = o with { Sharing = s };
        }
        if (host.TryGetValue("paging", out var pn))
        {
            var f = b.Fields(pn, "host.paging", PagingKeys, []);
            var p = new PagingOptions();
            if (f.TryGetValue("swap_file", out var sf)) p = p with { SwapFile = b.String(sf, "host.paging.swap_file") };
            if (f.TryGetValue("swap_size", out var ss)) p = p with { SwapPages = PageSize.FromBytes(b.Size(ss, "host.paging.swap_size") ?? PageSize.ToBytes(p.SwapPages)) };
            if (f.TryGetValue("policy", out var po)) p = p with { Policy = b.OneOf(po, "host.paging.policy", ["clock", "random"]) == "random" ? EvictionPolicy.Random : EvictionPolicy.Clock };
            if (f.TryGetValue("mru_size", out var mr)) p = p with { MruSize = (int)(b.Integer(mr, "host.paging.mru_size", 1, 1 << 24) ?? p.MruSize) };
            if (f.TryGetValue("rate", out var ra)) p = p with { RatePagesPerSecond = b.Rate(ra, "host.paging.rate") ?? p.RatePagesPerSecond };
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
            if (f.TryGetValue("reserve", out var tr)) t = t with { ReservePages = PageSize.FromBytes(b.Size(tr, "host.tmem.reserve") ?? PageSize.ToBytes(t.ReservePages)) };
            o = o with { Tmem = t };
        }
        return o;
    }

    private static DomainSpec? BindDomain(YamlBinder b, YamlNode node, string path)
    {
        var f = b.Fields(node, path, DomainKeys, ["name", "workload"]);
        string? name = f.TryGetValue("name", out var n) ? b.String(n, $"{path}.name") : null;
        if (name is not null && !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            b.Error(n, $"{path}.name", $"'{name}' is not a domain name; use letters, digits, '-', '_' and '.'.");
            name = null;
        }
        // Hyper-V's startup RAM is the memory the domain boots with: give one of the two.
        if (f.TryGetValue("startup", out var su) && f.ContainsKey("memory"))
            b.Error(su, $"{path}.startup", "startup is the memory the domain boots with; give memory or startup, not both.");
        else if (!f.ContainsKey("memory") && !f.ContainsKey("startup"))
            b.Error(node, $"{path}.memory", "the required key 'memory' is missing.");
        var m = f.GetValueOrDefault("memory") ?? f.GetValueOrDefault("startup");
        string memoryField = f.ContainsKey("memory") ? "memory" : "startup";
        long? memory = m is not null ? b.Size(m, $"{path}.{memoryField}") : null;
        if (memory == 0) b.Error(m, $"{path}.{memoryField}", "a domain needs some memory.");
        long? maximum = f.TryGetValue("maximum", out var hmax) ? b.Size(hmax, $"{path}.maximum") : null;
        // With no maxmem, Hyper-V's maximum RAM is how far the domain may grow.
        long? maxmem = f.TryGetValue("maxmem", out var mx) ? b.Size(mx, $"{path}.maxmem") : maximum is long mxm && memory is long me0 ? Math.Max(mxm, me0) : memory;
        if (memory is long mem && maxmem is long max && max < mem)
            b.Error(mx, $"{path}.maxmem", $"maxmem ({Units.FormatSize(max)}) is below memory ({Units.FormatSize(mem)}); maxmem must be at least memory.");
        int count = f.TryGetValue("count", out var c) ? (int)(b.Integer(c, $"{path}.count", 1, 4096) ?? 1) : 1;
        int vcpus = f.TryGetValue("vcpus", out var v) ? (int)(b.Integer(v, $"{path}.vcpus", 1, 512) ?? 1) : 1;
        bool autostart = !f.TryGetValue("autostart", out var a) || (b.Boolean(a, $"{path}.autostart") ?? true);
        var guest = f.TryGetValue("guest", out var gn) ? BindGuest(b, gn, $"{path}.guest") : new GuestOptions();
        var allocation = AllocationMode.Static;
        if (f.TryGetValue("allocation", out var al))
            allocation = b.OneOf(al, $"{path}.allocation", ["static", "on-demand"]) == "on-demand" ? AllocationMode.OnDemand : AllocationMode.Static;
        // Trace and image paths are relative to the scenario file.
        string baseDir = Path.GetDirectoryName(Path.GetFullPath(b.File)) ?? ".";
        var workload = f.TryGetValue("workload", out var w) ? BindWorkload(b, w, $"{path}.workload", baseDir) : null;
        var mmu = BindMmu(b, f, path);
        bool pv = mmu.Mode == MmuMode.Pv;
        // Xen shares, pages and populates on demand only through an HVM p2m: a PV domain's tables hold machine frames.
        bool sharing = f.TryGetValue("sharing", out var sh) ? b.Boolean(sh, $"{path}.sharing") ?? !pv : !pv;
        if (pv && sharing)
            b.Error(sh, $"{path}.sharing", "page sharing" + NeedsHvm);
        if (pv && allocation == AllocationMode.OnDemand)
            b.Error(al, $"{path}.allocation", "populate-on-demand" + NeedsHvm);
        if (f.TryGetValue("free_page_reporting", out var fpr)) guest = guest with { FreePageReporting = b.Boolean(fpr, $"{path}.free_page_reporting") ?? false };
        if (f.TryGetValue("tmem", out var tm)) guest = guest with { Tmem = b.Boolean(tm, $"{path}.tmem") ?? false };
        guest = BindBalloons(b, f, path, guest);
        if (f.TryGetValue("videoram", out var vr) && b.Size(vr, $"{path}.videoram") is long vram)
        {
            if (pv) b.Error(vr, $"{path}.videoram", "emulated video RAM" + NeedsHvm);
            else if (vram < 256 << 10 || (memory is long vm && vram > vm / 2))
                b.Error(vr, $"{path}.videoram", $"videoram ({Units.FormatSize(vram)}) must be at least 256KiB and at most half of memory.");
            else guest = guest with { VideoRamPages = PageSize.FromBytes(vram) };
        }
        if (f.TryGetValue("image", out var imn) && BindImage(b, imn, $"{path}.image", baseDir) is { } memoryImage)
            guest = guest with { Image = memoryImage };
        long? dynMin = f.TryGetValue("dynamic_min", out var dmin) ? b.Size(dmin, $"{path}.dynamic_min") : null;
        long? dynMax = f.TryGetValue("dynamic_max", out var dmax) ? b.Size(dmax, $"{path}.dynamic_max") : null;
        if (dynMin is long lo && dynMax is long hi && lo > hi)
            b.Error(dmin, $"{path}.dynamic_min", $"dynamic_min ({Units.FormatSize(lo)}) is above dynamic_max ({Units.FormatSize(hi)}).");
        if (dynMax is long top && maxmem is long cap && top > cap)
            b.Error(dmax, $"{path}.dynamic_max", $"dynamic_max ({Units.FormatSize(top)}) is above maxmem ({Units.FormatSize(cap)}).");
        var (shares, reservation, limit, minimum, buffer, weight) = BindPolicyRanges(b, f, path, memory, maxmem, maximum);
        if (guest.Hotplug.Enabled && memory is long hm && maxmem is long hx && hx <= hm)
            b.Error(f["hotplug"], $"{path}.hotplug", $"hot-plug adds memory between memory and maxmem, and maxmem ({Units.FormatSize(hx)}) is not above memory ({Units.FormatSize(hm)}).");
        long? pagingTarget = null;
        if (f.TryGetValue("paging", out var pg))
        {
            var pf = b.Fields(pg, $"{path}.paging", DomainPagingKeys, ["target"]);
            if (pf.TryGetValue("target", out var pt)) pagingTarget = b.Size(pt, $"{path}.paging.target");
            if (pv) b.Error(pg, $"{path}.paging", "hypervisor paging" + NeedsHvm);
        }
        if (workload is not null && Uses(workload, "display") && guest.VideoRamPages == 0)
            b.Error(w, $"{path}.workload", "a display workload draws into the guest's framebuffer; give the domain videoram (for example videoram: 8MiB).");
        if (name is null || memory is null || maxmem is null || workload is null) return null;
        return new DomainSpec
        {
            Name = name, Line = (int)node.Start.Line, Count = count, MemoryBytes = memory.Value, MaxMemBytes = maxmem.Value,
            Allocation = allocation, Vcpus = vcpus, Autostart = autostart, Guest = guest, Workload = workload,
            Sharing = sharing, Mmu = mmu, PagingTargetBytes = pagingTarget, DynamicMinBytes = dynMin, DynamicMaxBytes = dynMax,
            Shares = shares, ReservationBytes = reservation, LimitBytes = limit, MinimumBytes = minimum, MaximumBytes = maximum,
            BufferPercent = buffer, Weight = weight,
        };
    }

    private static bool Uses(WorkloadSpec w, string kind) => w.Kind == kind || w.Parts.Any(p => Uses(p, kind));

    // mmu: pv | shadow2 | shadow3 | hap, and mmu_options: the TLB, walk caches, nested superpages, Shadow-3's out-of-sync limit, PV's batch.
    private static MmuOptions BindMmu(YamlBinder b, Dictionary<string, YamlNode> f, string path)
    {
        var o = new MmuOptions();
        if (f.TryGetValue("mmu", out var mn) && b.OneOf(mn, $"{path}.mmu", MmuModes.Names) is string mode && MmuModes.TryParse(mode, out var m))
            o = o with { Mode = m };
        if (!f.TryGetValue("mmu_options", out var on)) return o;
        var of = b.Fields(on, $"{path}.mmu_options", MmuOptionKeys, []);
        if (of.TryGetValue("tlb_entries", out var te) && b.Integer(te, $"{path}.mmu_options.tlb_entries", 1, 1 << 20) is long entries)
        {
            if ((entries & (entries - 1)) != 0) b.Error(te, $"{path}.mmu_options.tlb_entries", $"{entries} is not a power of two; a TLB has 1, 2, 4 ... entries.");
            else o = o with { TlbEntries = (int)entries };
        }
        if (of.TryGetValue("tagged_tlb", out var tt)) o = o with { TaggedTlb = b.Boolean(tt, $"{path}.mmu_options.tagged_tlb") ?? o.TaggedTlb };
        if (of.TryGetValue("walk_caches", out var wc)) o = o with { WalkCaches = b.Boolean(wc, $"{path}.mmu_options.walk_caches") ?? o.WalkCaches };
        if (of.TryGetValue("nested_superpages", out var ns)) o = o with { NestedSuperpages = b.Boolean(ns, $"{path}.mmu_options.nested_superpages") ?? o.NestedSuperpages };
        if (of.TryGetValue("oos_limit", out var ol)) o = o with { OosLimit = (int)(b.Integer(ol, $"{path}.mmu_options.oos_limit", 1, 64) ?? o.OosLimit) };
        if (of.TryGetValue("pv_batch", out var pb)) o = o with { PvBatch = (int)(b.Integer(pb, $"{path}.mmu_options.pv_batch", 1, 1024) ?? o.PvBatch) };
        return o;
    }

    // ESX's shares, reservation and limit; Hyper-V's minimum, maximum, buffer and weight; each checked against the others and maxmem.
    private static (long? Shares, long? Reservation, long? Limit, long? Minimum, int? Buffer, int? Weight) BindPolicyRanges(
        YamlBinder b, Dictionary<string, YamlNode> f, string path, long? memory, long? maxmem, long? maximum)
    {
        long? shares = f.TryGetValue("shares", out var sh) ? b.Integer(sh, $"{path}.shares", 1, 1_000_000_000) : null;
        long? reservation = f.TryGetValue("reservation", out var rs) ? b.Size(rs, $"{path}.reservation") : null;
        long? limit = f.TryGetValue("limit", out var li) ? b.Size(li, $"{path}.limit") : null;
        long? minimum = f.TryGetValue("minimum", out var mi) ? b.Size(mi, $"{path}.minimum") : null;
        int? buffer = f.TryGetValue("buffer", out var bu) ? (int?)b.Integer(bu, $"{path}.buffer", 5, 2000) : null;
        int? weight = f.TryGetValue("weight", out var we) ? (int?)b.Integer(we, $"{path}.weight", 0, 10000) : null;
        if (reservation is long r && limit is long l && r > l)
            b.Error(rs, $"{path}.reservation", $"the reservation ({Units.FormatSize(r)}) is above the limit ({Units.FormatSize(l)}).");
        if (limit is long lm && maxmem is long cap && lm > cap)
            b.Error(li, $"{path}.limit", $"the limit ({Units.FormatSize(lm)}) is above maxmem ({Units.FormatSize(cap)}).");
        if (minimum is long mn && memory is long mem && mn > mem)
            b.Error(mi, $"{path}.minimum", $"the minimum ({Units.FormatSize(mn)}) is above the startup memory ({Units.FormatSize(mem)}).");
        if (maximum is long mx && memory is long start && mx < start)
            b.Error(f["maximum"], $"{path}.maximum", $"the maximum ({Units.FormatSize(mx)}) is below the startup memory ({Units.FormatSize(start)}).");
        if (maximum is long mx2 && maxmem is long cap2 && mx2 > cap2)
            b.Error(f["maximum"], $"{path}.maximum", $"the maximum ({Units.FormatSize(mx2)}) is above maxmem ({Units.FormatSize(cap2)}).");
        return (shares, reservation, limit, minimum, buffer, weight);
    }

    // balloon, selfballoon and hotplug: a section that is present turns its mechanism on unless it says enabled: false.
    private static GuestOptions BindBalloons(YamlBinder b, Dictionary<string, YamlNode> f, string path, GuestOptions guest)
    {
        bool Enabled(Dictionary<string, YamlNode> g, string at) => !g.TryGetValue("enabled", out var e) || (b.Boolean(e, $"{at}.enabled") ?? true);
        long Pages(YamlNode node, string at, long fallback) => PageSize.FromBytes(b.Size(node, at) ?? PageSize.ToBytes(fallback));
        if (f.TryGetValue("balloon", out var bn))
        {
            var g = b.Fields(bn, $"{path}.balloon", BalloonKeys, []);
            var o = new BalloonOptions { Enabled = Enabled(g, $"{path}.balloon") };
            if (g.TryGetValue("rate", out var r) && b.SizeRate(r, $"{path}.balloon.rate") is double rate)
            {
                if (rate < PageSize.Bytes) b.Error(r, $"{path}.balloon.rate", "the balloon must move at least one page (4KiB) per second.");
                o = o with { RatePagesPerSecond = rate / PageSize.Bytes };
            }
            if (g.TryGetValue("floor", out var fl)) o = o with { FloorPages = Pages(fl, $"{path}.balloon.floor", 0) };
            guest = guest with { Balloon = o };
        }
        if (f.TryGetValue("selfballoon", out var sn))
        {
            var g = b.Fields(sn, $"{path}.selfballoon", SelfBalloonKeys, []);
            var o = new SelfBalloonOptions { Enabled = Enabled(g, $"{path}.selfballoon") };
            if (g.TryGetValue("interval", out var i)) o = o with { IntervalNs = PositiveDuration(b, i, $"{path}.selfballoon.interval") ?? o.IntervalNs };
            if (g.TryGetValue("downhysteresis", out var dh)) o = o with { DownHysteresis = (int)(b.Integer(dh, $"{path}.selfballoon.downhysteresis", 1, 1000) ?? 8) };
            if (g.TryGetValue("uphysteresis", out var uh)) o = o with { UpHysteresis = (int)(b.Integer(uh, $"{path}.selfballoon.uphysteresis", 1, 1000) ?? 1) };
            if (g.TryGetValue("reserve", out var rs)) o = o with { ReservePages = Pages(rs, $"{path}.selfballoon.reserve", 0) };
            if (g.TryGetValue("min_usable", out var mu)) o = o with { MinUsablePages = Pages(mu, $"{path}.selfballoon.min_usable", 0) };
            guest = guest with { SelfBalloon = o };
        }
        if (f.TryGetValue("hotplug", out var hn))
        {
            var g = b.Fields(hn, $"{path}.hotplug", HotplugKeys, []);
            var o = new HotplugOptions { Enabled = Enabled(g, $"{path}.hotplug") };
            if (g.TryGetValue("block", out var bl))
            {
                long block = Pages(bl, $"{path}.hotplug.block", o.BlockPages);
                if (block < 512 || (block & (block - 1)) != 0) b.Error(bl, $"{path}.hotplug.block", "a memory block is a power of two of at least 2MiB.");
                else o = o with { BlockPages = block };
            }
            if (g.TryGetValue("rate", out var hr)) o = o with { BlocksPerSecond = b.Rate(hr, $"{path}.hotplug.rate") ?? o.BlocksPerSecond };
            guest = guest with { Hotplug = o };
        }
        return guest;
    }

    private static GuestOptions BindGuest(YamlBinder b, YamlNode node, string path)
    {
        var f = b.Fields(node, path, GuestKeys, []);
        var g = new GuestOptions();
        if (f.TryGetValue("swap", out var sw)) g = g with { SwapPages = PageSize.FromBytes(b.Size(sw, $"{path}.swap") ?? 0) };
        if (f.TryGetValue("kernel_image", out var ki) && b.String(ki, $"{path}.kernel_image") is { Length: > 0 } image) g = g with { KernelImage = image };
        if (f.TryGetValue("swappiness", out var sp)) g = g with { Swappiness = (int)(b.Integer(sp, $"{path}.swappiness", 0, 200) ?? 60) };
        if (f.TryGetValue("dirty_background_ratio", out var dr)) g = g with { DirtyBackgroundRatio = (int)(b.Integer(dr, $"{path}.dirty_background_ratio", 0, 100) ?? 10) };
        if (f.TryGetValue("dirty_expire", out var de)) g = g with { DirtyExpireNs = b.Duration(de, $"{path}.dirty_expire") ?? g.DirtyExpireNs };
        if (f.TryGetValue("check_integrity", out var ci)) g = g with { CheckIntegrity = b.Boolean(ci, $"{path}.check_integrity") ?? false };
        if (f.TryGetValue("demand_paging", out var dp) && b.OneOf(dp, $"{path}.demand_paging", ["linux", "windows"]) is string style)
            g = g with { DemandPaging = style == "windows" ? DemandPaging.Windows : DemandPaging.Linux };
        return g;
    }

    private static WorkloadSpec? BindWorkload(YamlBinder b, YamlNode node, string path, string baseDir)
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
            _ => [],
        };
        foreach (var key in needed)
            if (!f.ContainsKey(key)) b.Error(node, $"{path}.{key}", $"a {kind} workload needs '{key}'.");
        long SizeOf(string key) => f.TryGetValue(key, out var n) ? b.Size(n, $"{path}.{key}") ?? 0 : 0;
        long DurationOf(string key) => f.TryGetValue(key, out var n) ? b.Duration(n, $"{path}.{key}") ?? 0 : 0;
        long ws = SizeOf("working_set"), to = SizeOf("to"), from = SizeOf("from");
        if (from > to && f.ContainsKey("to")) b.Error(f["from"], $"{path}.from", $"the size to shrink to ({Units.FormatSize(from)}) is above the size to grow to ({Units.FormatSize(to)}).");
        var phases = new List<Phase>();
        if (f.TryGetValue("phases", out var pn))
        {
            if (pn is not YamlSequenceNode seq || seq.Children.Count == 0) b.Error(pn, $"{path}.phases", "expected a list of at least one phase.");
            else
                for (int i = 0; i < seq.Children.Count; i++)
                {
                    var pf = b.Fields(seq.Children[i], $"{path}.phases[{i}]", PhaseKeys, PhaseKeys);
                    long set = pf.TryGetValue("working_set", out var s) ? b.Size(s, $"{path}.phases[{i}].working_set") ?? 0 : 0;
                    long dur = pf.TryGetValue("duration", out var d) ? PositiveDuration(b, d, $"{path}.phases[{i}].duration") ?? 0 : 0;
                    phases.Add(new Phase(PageSize.FromBytes(set), dur));
                }
        }
        var parts = new List<WorkloadSpec>();
        if (f.TryGetValue("parts", out var partsNode))
        {
            if (partsNode is not YamlSequenceNode seq || seq.Children.Count == 0) b.Error(partsNode, $"{path}.parts", "expected a list of at least one workload.");
            else
                for (int i = 0; i < seq.Children.Count; i++)
                    if (BindWorkload(b, seq.Children[i], $"{path}.parts[{i}]", baseDir) is { } part) parts.Add(part);
        }
        string? tracePath = null;
        if (f.TryGetValue("path", out var tp) && b.String(tp, $"{path}.path") is { } rel)
        {
            tracePath = Path.GetFullPath(Path.Combine(baseDir, rel));
            if (!File.Exists(tracePath)) b.Error(tp, $"{path}.path", $"there is no trace file at {tracePath}.");
        }
        string format = f.TryGetValue("format", out var fm) ? b.OneOf(fm, $"{path}.format", ["auto", .. TraceFile.Formats]) ?? "auto" : "auto";
        return new WorkloadSpec
        {
            Kind = kind,
            WorkingSetPages = PageSize.FromBytes(ws),
            ToPages = PageSize.FromBytes(to),
            FromPages = PageSize.FromBytes(from),
            RatePerSecond = f.TryGetValue("rate", out var r) ? b.Rate(r, $"{path}.rate") ?? 0 : 0,
            WriteFraction = f.TryGetValue("write_fraction", out var wf) ? b.Number(wf, $"{path}.write_fraction", 0, 1) ?? 0.3 : 0.3,
            OverNs = kind == "grow-shrink" ? DurationOf("period") : DurationOf("over"),
            Skew = f.TryGetValue("skew", out var sk) ? b.Number(sk, $"{path}.skew", 0.01, 10) ?? 0.99 : 0.99,
            Phases = phases,
            SpawnsPerSecond = f.TryGetValue("spawn_rate", out var sr) ? b.Rate(sr, $"{path}.spawn_rate") ?? 0 : 0,
            LifetimeNs = DurationOf("lifetime"),
            FilePages = PageSize.FromBytes(SizeOf("file_size")),
            Parts = parts,
            TracePath = tracePath,
            TraceFormat = format,
            Loop = f.TryGetValue("loop", out var lp) && (b.Boolean(lp, $"{path}.loop") ?? false),
            Speed = f.TryGetValue("speed", out var spd) ? b.Number(spd, $"{path}.speed", 1e-6, 1e6) ?? 1.0 : 1.0,
            WindowNs = f.TryGetValue("window", out var wn) ? PositiveDuration(b, wn, $"{path}.window") ?? 1_000_000_000 : 1_000_000_000,
            ProcessName = f.TryGetValue("name", out var pnm) ? b.String(pnm, $"{path}.name") : null,
        };
    }

    // image: PATH, or image: { path: PATH, format: auto|elf|raw }; the headers are checked now, so a bad image stops the scenario before it runs.
    private static MemoryImageSpec? BindImage(YamlBinder b, YamlNode node, string path, string baseDir)
    {
        YamlNode? pathNode = node;
        string format = "auto";
        if (node is not YamlScalarNode)
        {
            var f = b.Fields(node, path, ImageKeys, ["path"]);
            pathNode = f.GetValueOrDefault("path");
            if (f.TryGetValue("format", out var fm))
            {
                if (b.OneOf(fm, $"{path}.format", [.. ImageFile.Formats]) is not { } known) return null;
                format = known;
            }
        }
        string field = node is YamlScalarNode ? path : $"{path}.path";
        if (pathNode is null || b.String(pathNode, field) is not { Length: > 0 } rel) return null;
        string full = Path.GetFullPath(Path.Combine(baseDir, rel));
        try
        {
            using var image = ImageFile.Open(full, format);
            return new MemoryImageSpec(full, format);
        }
        catch (Exception e) when (e is ImageFormatException or IOException or UnauthorizedAccessException)
        {
            b.Error(pathNode, field, $"the memory image was refused: {e.Message}");
            return null;
        }
    }

    private static ActionSpec? BindEvent(YamlBinder b, YamlNode node, string path, long duration)
    {
        var f = b.Fields(node, path, EventKeys, ["at", "action", "domain"]);
        long? at = f.TryGetValue("at", out var a) ? b.Duration(a, $"{path}.at") : null;
        if (at > duration && duration > 0) b.Error(a, $"{path}.at", $"the action is at {(a as YamlScalarNode)?.Value}, after the scenario ends at {duration / 1e9:0.###}s.");
        string? action = f.TryGetValue("action", out var ac) ? b.OneOf(ac, $"{path}.action", Actions) : null;
        string? domain = f.TryGetValue("domain", out var d) ? b.String(d, $"{path}.domain") : null;
        long? memory = f.TryGetValue("memory", out var m) ? b.Size(m, $"{path}.memory") : null;
        if (action is "mem-set" or "mem-max" or "paging-target" or "hot-add" or "hot-remove" && !f.ContainsKey("memory"))
            b.Error(node, $"{path}.memory", $"{action} needs 'memory'.");
        if (action is "create" or "destroy" && f.ContainsKey("memory"))
            b.Error(m, $"{path}.memory", $"{action} takes no 'memory'.");
        if (at is null || action is null || domain is null) return null;
        var kind = action switch
        {
            "create" => ActionKind.Create, "destroy" => ActionKind.Destroy, "mem-set" => ActionKind.MemSet,
            "paging-target" => ActionKind.PagingTarget, "hot-add" => ActionKind.HotAdd, "hot-remove" => ActionKind.HotRemove,
            _ => ActionKind.MemMax,
        };
        return new ActionSpec(at.Value, kind, domain, memory, (int)node.Start.Line);
    }

    private static long? PositiveDuration(YamlBinder b, YamlNode node, string field)
    {
        long? ns = b.Duration(node, field);
        if (ns is 0) { b.Error(node, field, "must be longer than zero."); return null; }
        return ns;
    }

    private static void CheckNames(YamlBinder b, YamlNode root, Scenario s)
    {
        var seen = new HashSet<string> { Dom0Name };
        var domainNodes = DomainNodes(root);
        for (int i = 0; i < s.Domains.Count; i++)
            foreach (var name in s.Domains[i].InstanceNames())
                if (!seen.Add(name))
                    b.Error(domainNodes.ElementAtOrDefault(i), $"domains[{i}].name", $"the domain name '{name}' is used twice (or is dom0's).");
    }

    private static void CheckEvents(YamlBinder b, YamlNode root, Scenario s)
    {
        var instances = s.Instances().ToDictionary(x => x.Name, x => x.Spec);
        var configs = s.Domains.ToDictionary(d => d.Name, d => d);
        var eventNodes = (root as YamlMappingNode)?.Children.FirstOrDefault(c => (c.Key as YamlScalarNode)?.Value == "events").Value as YamlSequenceNode;
        foreach (var e in s.Events)
        {
            var node = eventNodes?.Children.FirstOrDefault(n => (int)n.Start.Line == e.Line);
            string what = ActionSpec.NameOf(e.Action);
            if (e.Action == ActionKind.Create)
            {
                if (!configs.TryGetValue(e.Domain, out var cfg))
                    b.Error(node, "domain", $"create names '{e.Domain}', which is not one of the domains.");
                else if (cfg.Autostart)
                    b.Error(node, "domain", $"create names '{e.Domain}', which starts with the host; give it 'autostart: false'.");
            }
            else if (!instances.ContainsKey(e.Domain) && e.Domain != Dom0Name && e.Domain != "dom0")
            {
                b.Error(node, "domain", $"{what} names '{e.Domain}', which is not a domain of this scenario (instances of a domain with count N are NAME-1 .. NAME-N).");
            }
            else if (e.Action is ActionKind.HotAdd or ActionKind.HotRemove && instances.TryGetValue(e.Domain, out var hs) && !hs.Guest.Hotplug.Enabled)
            {
                b.Error(node, "domain", $"{what} names '{e.Domain}', which has no hot-pluggable memory; give its domain 'hotplug: {{enabled: true}}' and a maxmem above memory.");
            }
            else if (e.MemoryBytes is long mem && instances.TryGetValue(e.Domain, out var spec) && e.Action == ActionKind.MemSet && mem > spec.MaxMemBytes)
            {
                b.Error(node, "memory", $"mem-set asks for {Units.FormatSize(mem)}, above {e.Domain}'s maxmem of {Units.FormatSize(spec.MaxMemBytes)}.");
            }
        }
    }

    private static void CheckFit(YamlBinder b, YamlNode root, Scenario s)
    {
        long frames = PageSize.FromBytes(s.Host.MemoryBytes);
        long xen = (frames * HypervisorCore.XenBytesPerFrame + PageSize.Bytes - 1) / PageSize.Bytes;
        long dom0 = PageSize.FromBytes(s.Host.Dom0Bytes);
        long used = xen + dom0;
        var hostNode = (root as YamlMappingNode)?.Children.FirstOrDefault(c => (c.Key as YamlScalarNode)?.Value == "host").Value;
        if (used > frames)
        {
            b.Error(hostNode, "host.dom0.memory", $"dom0 ({Units.FormatSize(s.Host.Dom0Bytes)}) and the hypervisor's own {PageSize.ToMiB(xen)}MiB do not fit in {Units.FormatSize(s.Host.MemoryBytes)}.");
            return;
        }
        var domainNodes = DomainNodes(root);
        for (int i = 0; i < s.Domains.Count; i++)
        {
            var d = s.Domains[i];
            if (!d.Autostart) continue;
            foreach (var name in d.InstanceNames())
            {
                var config = ToConfig(d, name);
                used += HypervisorCore.ReservePagesFor(config) + (d.Allocation == AllocationMode.Static ? config.MemoryPages : 0);
                if (used > frames)
                {
                    b.Error(domainNodes.ElementAtOrDefault(i), $"domains[{i}].memory",
                        $"{name} does not fit: with dom0, the hypervisor's own {PageSize.ToMiB(xen)}MiB and each domain's paging reserve, " +
                        $"the static domains up to it need {PageSize.ToMiB(used)}MiB but the host has {PageSize.ToMiB(frames)}MiB.");
                    return;
                }
            }
        }
    }

    public static DomainConfig ToConfig(DomainSpec d, string name) => new()
    {
        Name = name,
        MemoryPages = PageSize.FromBytes(d.MemoryBytes),
        MaxPages = PageSize.FromBytes(d.MaxMemBytes),
        Allocation = d.Allocation,
        Vcpus = d.Vcpus,
        Sharing = d.Sharing,
        Mmu = d.Mmu,
    };

    private static IReadOnlyList<YamlNode> DomainNodes(YamlNode root) =>
        ((root as YamlMappingNode)?.Children.FirstOrDefault(c => (c.Key as YamlScalarNode)?.Value == "domains").Value as YamlSequenceNode)?.Children.ToList()
        ?? (IReadOnlyList<YamlNode>)[];
}
