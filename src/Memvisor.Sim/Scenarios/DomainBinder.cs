using Memvisor.Hypervisor.Personalities;
using Memvisor.Guest.Kernel;
using Memvisor.Guest.Workloads;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Machine.Frames;
using YamlDotNet.RepresentationModel;

namespace Memvisor.Sim.Scenarios;

/// <summary>Binds one entry of <c>domains:</c>: its memory and range, allocation, MMU and the policy settings that apply to it.</summary>
internal static class DomainBinder
{
    private static readonly string[] DomainKeys = ["name", "count", "memory", "maxmem", "allocation", "vcpus", "autostart", "guest", "workload", "sharing", "paging", "free_page_reporting", "tmem", "balloon", "selfballoon", "hotplug", "dynamic_min", "dynamic_max",
        "cpus", "shares", "reservation", "limit", "startup", "minimum", "maximum", "buffer", "weight", "mmu", "mmu_options", "videoram", "image", "host", "disk", "nic", "vnuma"];
    private static readonly string[] DiskKeys = ["driver", "persistent_grants"];
    private static readonly string[] NicKeys = ["driver", "rx", "tx", "flip"];
    private static readonly string[] DomainPagingKeys = ["target"];
    private const string NeedsHvm = " needs an HVM domain (mmu: shadow2, shadow3 or hap): a PV domain's page tables name machine frames.";
    private static readonly string[] MmuOptionKeys = ["tlb_entries", "tagged_tlb", "walk_caches", "nested_superpages", "oos_limit", "pv_batch"];

    internal static DomainSpec? BindDomain(YamlBinder b, YamlNode node, string path, HostPersonality host)
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
        if (memory < ScenarioLimits.MinDomainBytes)
        {
            b.Error(m, $"{path}.{memoryField}", $"a domain runs a guest kernel and needs at least {Units.FormatSize(ScenarioLimits.MinDomainBytes)}, not {Units.FormatSize(memory.Value)}.");
            memory = null;
        }
        long? maximum = f.TryGetValue("maximum", out var hmax) ? b.Size(hmax, $"{path}.maximum") : null;
        // With no maxmem, Hyper-V's maximum RAM is how far the domain may grow.
        long? maxmem = f.TryGetValue("maxmem", out var mx) ? b.Size(mx, $"{path}.maxmem") : maximum is long mxm && memory is long me0 ? Math.Max(mxm, me0) : memory;
        if (memory is long mem && maxmem is long max && max < mem)
            b.Error(mx, $"{path}.maxmem", $"maxmem ({Units.FormatSize(max)}) is below memory ({Units.FormatSize(mem)}); maxmem must be at least memory.");
        int count = f.TryGetValue("count", out var c) ? (int)(b.Integer(c, $"{path}.count", 1, 4096) ?? 1) : 1;
        int vcpus = f.TryGetValue("vcpus", out var v) ? (int)(b.Integer(v, $"{path}.vcpus", 1, 512) ?? 1) : 1;
        // xl.cfg's cpus="node:N": the vCPUs pinned to NUMA node N, whose memory the domain's pages then come from first.
        int? cpuNode = null;
        if (f.TryGetValue("cpus", out var cp) && b.String(cp, $"{path}.cpus") is { } cpus)
        {
            if (cpus.StartsWith("node:", StringComparison.Ordinal) && int.TryParse(cpus.AsSpan(5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pin) && pin < 64)
                cpuNode = pin;
            else b.Error(cp, $"{path}.cpus", $"'{cpus}' is not a NUMA node; give xl.cfg's \"node:N\" (the vCPUs pinned to node N, 0 to 63).");
        }
        var vnuma = f.TryGetValue("vnuma", out var vn) ? VnumaBinder.Bind(b, vn, $"{path}.vnuma", maxmem) : null;
        // The vCPUs are on the first virtual node's pnode; cpus may say so too, but not otherwise.
        if (vnuma is { } vnodes && cpuNode is int pinned && pinned != vnodes[0].Pnode)
            b.Error(cp, $"{path}.cpus", $"the vCPUs are on the first virtual NUMA node's pnode ({vnodes[0].Pnode}), not node {pinned}; give cpus: \"node:{vnodes[0].Pnode}\" or leave it out.");
        bool autostart = !f.TryGetValue("autostart", out var a) || (b.Boolean(a, $"{path}.autostart") ?? true);
        var guest = f.TryGetValue("guest", out var gn) ? GuestBinder.BindGuest(b, gn, $"{path}.guest") : new GuestOptions();
        if (guest.Tiering && vnuma is not { Count: > 1 })
            b.Error(gn!, $"{path}.guest.tiering", "the guest tiers memory between its NUMA nodes; give the domain a vnuma of two nodes or more, one of them on slower memory.");
        AllocationMode? allocation = null;
        if (f.TryGetValue("allocation", out var al) && b.OneOf(al, $"{path}.allocation", ["static", "on-demand"]) is { } alloc)
            allocation = alloc == "on-demand" ? AllocationMode.OnDemand : AllocationMode.Static;
        // Trace and image paths are relative to the scenario file.
        var workload = f.TryGetValue("workload", out var w) ? WorkloadBinder.BindWorkload(b, w, $"{path}.workload") : null;
        var mmu = BindMmu(b, f, path);
        bool pv = mmu.Mode == MmuMode.Pv;
        // Xen shares, pages and populates on demand only through an HVM p2m: a PV domain's tables hold machine frames.
        bool? sharing = f.TryGetValue("sharing", out var sh) ? b.Boolean(sh, $"{path}.sharing") : null;
        if (pv && sharing == true)
            b.Error(sh, $"{path}.sharing", "page sharing" + NeedsHvm);
        if (pv) sharing = false;
        if (guest.TransparentHugePages && guest.DemandPaging == DemandPaging.Windows)
            b.Error(gn!, $"{path}.guest.thp", "transparent huge pages are Linux's; a guest with demand_paging: windows has none (Windows maps large pages only when a program asks for them).");
        if (pv && guest.TransparentHugePages)
            b.Error(gn!, $"{path}.guest.thp", "a PV guest has no huge pages: Xen's PV MMU refuses a page-directory entry that maps 2MiB (give the domain mmu: hap or shadow3).");
        RefuseMissing(b, f, path, host, allocation, sharing, mmu);
        if (pv && allocation == AllocationMode.OnDemand)
            b.Error(al, $"{path}.allocation", "populate-on-demand" + NeedsHvm);
        if (f.TryGetValue("free_page_reporting", out var fpr)) guest = guest with { FreePageReporting = b.Boolean(fpr, $"{path}.free_page_reporting") ?? false };
        if (f.TryGetValue("tmem", out var tm)) guest = guest with { Tmem = b.Boolean(tm, $"{path}.tmem") ?? false };
        guest = GuestBinder.BindBalloons(b, f, path, guest);
        if (f.TryGetValue("videoram", out var vr) && b.Size(vr, $"{path}.videoram") is long vram)
        {
            if (pv) b.Error(vr, $"{path}.videoram", "emulated video RAM" + NeedsHvm);
            else if (vram < 256 << 10 || (memory is long vm && vram > vm / 2))
                b.Error(vr, $"{path}.videoram", $"videoram ({Units.FormatSize(vram)}) must be at least 256KiB and at most half of memory.");
            else guest = guest with { VideoRamPages = PageSize.FromBytes(vram) };
        }
        if (f.TryGetValue("image", out var imn) && GuestBinder.BindImage(b, imn, $"{path}.image") is { } memoryImage)
            guest = guest with { Image = memoryImage };
        long? dynMin = f.TryGetValue("dynamic_min", out var dmin) ? b.Size(dmin, $"{path}.dynamic_min") : null;
        long? dynMax = f.TryGetValue("dynamic_max", out var dmax) ? b.Size(dmax, $"{path}.dynamic_max") : null;
        if (dynMin is long lo && dynMax is long hi && lo > hi)
            b.Error(dmin, $"{path}.dynamic_min", $"dynamic_min ({Units.FormatSize(lo)}) is above dynamic_max ({Units.FormatSize(hi)}).");
        if (dynMax is long top && maxmem is long cap && top > cap)
            b.Error(dmax, $"{path}.dynamic_max", $"dynamic_max ({Units.FormatSize(top)}) is above maxmem ({Units.FormatSize(cap)}).");
        var (shares, reservation, limit, minimum, buffer, weight) = BindPolicyRanges(b, f, path, memory, maxmem, maximum, dynMin, dynMax);
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
        var disk = new DiskSpec();
        if (f.TryGetValue("disk", out var dk))
        {
            var df = b.Fields(dk, $"{path}.disk", DiskKeys, []);
            bool pvDisk = df.TryGetValue("driver", out var dr) && b.OneOf(dr, $"{path}.disk.driver", ["emulated", "pv"]) == "pv";
            bool persistentGrants = df.TryGetValue("persistent_grants", out var pg2) && (b.Boolean(pg2, $"{path}.disk.persistent_grants") ?? false);
            if (persistentGrants && !pvDisk) b.Error(pg2, $"{path}.disk.persistent_grants", "persistent grants are a PV disk's (driver: pv).");
            // Split drivers over grant tables are Xen's; KVM's virtio, ESX's PVSCSI and Hyper-V's VMBus share memory otherwise.
            if (pvDisk && host.Kind != HypervisorKind.Xen) b.Error(dr, $"{path}.disk.driver", host.Lacks("Xen's split block driver over grant tables") + "; its guests' disks are reached directly here.");
            disk = new DiskSpec(pvDisk, persistentGrants);
        }
        var nic = f.TryGetValue("nic", out var nn) ? BindNic(b, nn, $"{path}.nic", host) : new NicSpec();
        // The host is looked up once every host is bound (ScenarioChecks.CheckHosts).
        string? hostName = f.TryGetValue("host", out var hn) ? b.String(hn, $"{path}.host") : null;
        if (name is null || memory is null || maxmem is null || workload is null) return null;
        return new DomainSpec
        {
            Name = name, Line = (int)node.Start.Line, Count = count, MemoryBytes = memory.Value, MaxMemBytes = maxmem.Value,
            Allocation = allocation, Vcpus = vcpus, CpuNode = vnuma?[0].Pnode ?? cpuNode, Vnuma = vnuma, Autostart = autostart, Guest = guest, Workload = workload,
            Sharing = sharing, Mmu = mmu, PagingTargetBytes = pagingTarget, DynamicMinBytes = dynMin, DynamicMaxBytes = dynMax,
            Shares = shares, ReservationBytes = reservation, LimitBytes = limit, MinimumBytes = minimum, MaximumBytes = maximum,
            BufferPercent = buffer, Weight = weight, Host = hostName, Disk = disk, Nic = nic,
        };
    }

    // nic: Xen's split network driver (netfront/netback) at a receive and a send rate, by grant copy or page flipping.
    private static NicSpec BindNic(YamlBinder b, YamlNode node, string path, HostPersonality host)
    {
        var f = b.Fields(node, path, NicKeys, ["driver"]);
        bool pv = f.TryGetValue("driver", out var dr) && b.OneOf(dr, $"{path}.driver", ["pv"]) == "pv";
        double rx = f.TryGetValue("rx", out var rn) ? b.SizeRate(rn, $"{path}.rx", ScenarioLimits.MaxLinkBytesPerSecond) ?? 0 : 0;
        double tx = f.TryGetValue("tx", out var tn) ? b.SizeRate(tn, $"{path}.tx", ScenarioLimits.MaxLinkBytesPerSecond) ?? 0 : 0;
        bool flip = f.TryGetValue("flip", out var fl) && (b.Boolean(fl, $"{path}.flip") ?? false);
        if (pv && host.Kind != HypervisorKind.Xen) b.Error(dr, $"{path}.driver", host.Lacks("Xen's split network driver over grant tables") + "; its guests' network is not modeled.");
        return new NicSpec(pv, rx, tx, flip);
    }

    // What the host's hypervisor does not have is refused at the domain's key, naming the hypervisor.
    private static void RefuseMissing(YamlBinder b, Dictionary<string, YamlNode> f, string path, HostPersonality host, AllocationMode? allocation, bool? sharing, MmuOptions mmu)
    {
        if (allocation == AllocationMode.OnDemand && host.OnDemand == OnDemandModel.None)
            b.Error(f["allocation"], $"{path}.allocation", host.Lacks("on-demand allocation") + ": a VM starts only once its startup memory is allocated.");
        if (sharing == true && !host.HasSharing)
            b.Error(f["sharing"], $"{path}.sharing", host.Lacks("page sharing") + ".");
        if (mmu.Mode == MmuMode.Pv && host.Kind != HypervisorKind.Xen)
            b.Error(f["mmu"], $"{path}.mmu", host.Lacks("paravirtualized MMU") + "; pv is Xen's direct paging.");
        if (f.TryGetValue("tmem", out var tm) && !host.HasTmem)
            b.Error(tm, $"{path}.tmem", host.Lacks("transcendent memory") + "; tmem is Xen's.");
        if (f.TryGetValue("free_page_reporting", out var fpr) && !host.HasFreePageReporting)
            b.Error(fpr, $"{path}.free_page_reporting", host.Lacks("free page reporting") + "; it is virtio-balloon's, under KVM.");
        if (f.TryGetValue("paging", out var pg) && !host.HasPagingTarget)
            b.Error(pg, $"{path}.paging", host.Lacks("hypervisor paging of running VMs") + ".");
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
        YamlBinder b, Dictionary<string, YamlNode> f, string path, long? memory, long? maxmem, long? maximum, long? dynMin, long? dynMax)
    {
        long? shares = f.TryGetValue("shares", out var sh) ? b.Integer(sh, $"{path}.shares", 1, 1_000_000_000) : null;
        long? reservation = f.TryGetValue("reservation", out var rs) ? b.Size(rs, $"{path}.reservation") : null;
        long? limit = f.TryGetValue("limit", out var li) ? b.Size(li, $"{path}.limit") : null;
        long? minimum = f.TryGetValue("minimum", out var mi) ? b.Size(mi, $"{path}.minimum") : null;
        int? buffer = f.TryGetValue("buffer", out var bu) ? (int?)b.Integer(bu, $"{path}.buffer", 5, 2000) : null;
        int? weight = f.TryGetValue("weight", out var we) ? (int?)b.Integer(we, $"{path}.weight", 0, 10000) : null;
        // ESX's defaults: the reservation is 0, the limit dynamic_max (or maxmem); given or not, the first is not above the second.
        if ((reservation ?? 0) is long r && (limit ?? dynMax ?? maxmem) is long l && r > l && (reservation is not null || limit is not null))
            b.Error(reservation is not null ? rs : li, $"{path}.{(reservation is not null ? "reservation" : "limit")}",
                $"the reservation ({Units.FormatSize(r)}) is above the limit ({Units.FormatSize(l)}).");
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
}
