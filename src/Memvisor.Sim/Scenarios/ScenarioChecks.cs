using Memvisor.Hypervisor.Domains;
using Memvisor.Machine.Frames;
using YamlDotNet.RepresentationModel;
using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Hypervisor.Personalities;

namespace Memvisor.Sim.Scenarios;

/// <summary>Checks of a whole bound scenario: unique domain names, actions that name real domains, static domains that fit.</summary>
public static partial class ScenarioChecks
{
    internal static void CheckNames(YamlBinder b, YamlNode root, Scenario s)
    {
        // dom0 is Domain-0, and actions also call it dom0: a guest may take neither name.
        var owner = new Dictionary<string, string>(StringComparer.Ordinal) { [ScenarioLoader.Dom0Name] = "dom0", ["dom0"] = "dom0" };
        var domainNodes = DomainNodes(root);
        var domainNames = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < s.Domains.Count; i++)
        {
            var d = s.Domains[i];
            // Two domains of one name (one with a count) would name no clashing instance, but actions name domains too.
            if (!domainNames.Add(d.Name))
            {
                b.Error(domainNodes.ElementAtOrDefault(i), $"domains[{i}].name", $"the domain name '{d.Name}' is already taken by another domain; every domain needs its own name.");
                return;
            }
            foreach (var name in d.InstanceNames())
            {
                string what = d.Count == 1 ? $"'{name}'" : $"'{name}' (an instance of '{d.Name}', count {d.Count})";
                if (!owner.TryAdd(name, d.Count == 1 ? $"the domain '{d.Name}'" : $"an instance of '{d.Name}'"))
                {
                    b.Error(domainNodes.ElementAtOrDefault(i), $"domains[{i}].name", owner[name] == "dom0"
                        ? $"{what} is dom0's name; give the domain another."
                        : $"the domain name {what} is already taken by {owner[name]}; every domain instance needs its own name (instances of a domain with count N are NAME-1 .. NAME-N).");
                    return;
                }
            }
        }
    }

    /// <summary>The scenario's name labels its output (memvisor-out/NAME): one safe path component, never a path.</summary>
    internal static void CheckScenarioName(YamlBinder b, YamlNode? node, string name)
    {
        bool safe = name.Length is > 0 and <= 100 && char.IsAsciiLetterOrDigit(name[0])
            && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
        if (!safe)
            b.Error(node, "name", $"'{name}' is not a scenario name; a name labels the output directory (memvisor-out/NAME), so it is one to 100 letters, digits, '-', '_' or '.', starting with a letter or digit, never a path.");
    }

    internal static void CheckEvents(YamlBinder b, YamlNode root, Scenario s)
    {
        var instances = s.Instances().ToDictionary(x => x.Name, x => x.Spec);
        var configs = s.Domains.ToDictionary(d => d.Name, d => d);
        var eventNodes = TopNode(root, "events") as YamlSequenceNode;
        foreach (var e in s.Events)
        {
            var node = eventNodes?.Children.ElementAtOrDefault(e.Index);
            string at = $"events[{e.Index}]";
            // The error points at the field itself, named by its path, as every other field's does.
            YamlNode? Value(string key) => Field(node, key);
            string what = ActionSpec.NameOf(e.Action);
            // evacuate names a host, not a domain (CheckHosts).
            if (e.Action == ActionKind.Evacuate) continue;
            if (e.Action == ActionKind.PagingTarget && !s.Host.Personality.HasPagingTarget)
                b.Error(Value("action"), $"{at}.action", s.Host.Personality.Lacks("hypervisor paging of running VMs") + "; Smart Paging pages only while a VM restarts.");
            else if (e.Action == ActionKind.Create)
            {
                // A create builds a domain's instances not yet built, or one instance (NAME-i) of it.
                if (!configs.TryGetValue(e.Domain, out var cfg) && !instances.TryGetValue(e.Domain, out cfg))
                    b.Error(Value("domain"), $"{at}.domain", $"create names '{e.Domain}', which is not one of the domains or an instance of one.");
                else if (cfg.Autostart)
                    b.Error(Value("domain"), $"{at}.domain", $"create names '{e.Domain}', which starts with the host; give it 'autostart: false'.");
            }
            else if (e.Action == ActionKind.Restart && !instances.ContainsKey(e.Domain))
            {
                string why = configs.TryGetValue(e.Domain, out var many)
                    ? $"a domain of {many.Count} instances; restart one of them ({e.Domain}-1 .. {e.Domain}-{many.Count})"
                    : "which is not a guest of this scenario (dom0 restarts with the host; instances of a domain with count N are NAME-1 .. NAME-N)";
                b.Error(Value("domain"), $"{at}.domain", $"restart names '{e.Domain}', {why}.");
            }
            else if (e.Action is ActionKind.Save or ActionKind.Restore or ActionKind.Migrate && !instances.ContainsKey(e.Domain))
            {
                b.Error(Value("domain"), $"{at}.domain", $"{what} names '{e.Domain}', which is not a guest instance of this scenario (dom0 is not {(e.Action == ActionKind.Migrate ? "migrated" : "saved")}; instances of a domain with count N are NAME-1 .. NAME-N).");
            }
            else if (e.Action == ActionKind.MigratePages && MigratePagesProblem(s, e, instances) is { } problem)
            {
                b.Error(Value(problem.Field), $"{at}.{problem.Field}", problem.Message);
            }
            else if (e.PostCopyAfterRounds is not null && s.Host.Personality.Kind != HypervisorKind.Kvm)
            {
                b.Error(Value("postcopy"), $"{at}.postcopy", $"post-copy is QEMU's (postcopy-ram), on a kvm host; {s.Host.Personality.Name}'s live migration is pre-copy only.");
            }
            else if (e.Action is ActionKind.Save or ActionKind.Restore && SaveOrderProblem(s, e) is { } order)
            {
                b.Error(Value("action"), $"{at}.action", order);
            }
            else if (!instances.ContainsKey(e.Domain) && e.Domain != ScenarioLoader.Dom0Name && e.Domain != "dom0")
            {
                b.Error(Value("domain"), $"{at}.domain", $"{what} names '{e.Domain}', which is not a domain of this scenario (instances of a domain with count N are NAME-1 .. NAME-N).");
            }
            else if (e.Action is ActionKind.HotAdd or ActionKind.HotRemove && instances.TryGetValue(e.Domain, out var hs) && !hs.Guest.Hotplug.Enabled)
            {
                b.Error(Value("domain"), $"{at}.domain", $"{what} names '{e.Domain}', which has no hot-pluggable memory; give its domain 'hotplug: {{enabled: true}}' and a maxmem above memory.");
            }
            else if (e.MemoryBytes is long mem && instances.TryGetValue(e.Domain, out var spec) && e.Action == ActionKind.MemSet && mem > spec.MaxMemBytes)
            {
                b.Error(Value("memory"), $"{at}.memory", $"mem-set asks for {Units.FormatSize(mem)}, above {e.Domain}'s maxmem of {Units.FormatSize(spec.MaxMemBytes)}.");
            }
        }
    }

    // migratepages moves a guest's memory between the NUMA nodes of its host: Linux's tool on a KVM guest's QEMU, and
    // ESX's NUMA page migration; Xen's toolstack and Hyper-V have no such command.
    private static (string Field, string Message)? MigratePagesProblem(Scenario s, ActionSpec e, IReadOnlyDictionary<string, DomainSpec> instances)
    {
        if (!instances.TryGetValue(e.Domain, out var spec))
            return ("domain", $"migratepages names '{e.Domain}', which is not a guest instance of this scenario (instances of a domain with count N are NAME-1 .. NAME-N).");
        if (s.Host.Personality.Kind is not (HypervisorKind.Kvm or HypervisorKind.Esx))
            return ("action", $"migratepages moves a guest's memory between NUMA nodes as Linux's migratepages does for KVM and ESX's NUMA scheduler does; {s.Host.Personality.Name} has no such command.");
        var host = s.Hosts.FirstOrDefault(h => h.Name == spec.Host) ?? s.Host;
        if (e.Node >= host.NumaNodes)
            return ("node", $"migratepages sends {e.Domain}'s pages to node {e.Node}, but its host '{host.Name}' has {host.NumaNodes} node(s), 0 to {host.NumaNodes - 1}.");
        return null;
    }

    /// <summary>Why the domain cannot move from <paramref name="from"/> to <paramref name="to"/> (the hypervisor refuses it at run time too), as a clause; null if it can.</summary>
    internal static string? MoveProblem(DomainSpec spec, HostSpec from, HostSpec to) =>
        spec.Guest.Tmem && from.Overcommit.Tmem.Enabled && !to.Overcommit.Tmem.Enabled ? $"whose guest uses tmem, which '{to.Name}' has off: its pools could not be made again there" : null;

    // A restore follows some save of the same instance (a refused restore may be tried again), and an instance is
    // not saved twice without a restore between.
    private static string? SaveOrderProblem(Scenario s, ActionSpec e)
    {
        bool everSaved = false, lastWasSave = false;
        foreach (var x in s.Events.Where(x => x.Domain == e.Domain && x.Action is ActionKind.Save or ActionKind.Restore))
        {
            if (ReferenceEquals(x, e))
                return e.Action == ActionKind.Save && lastWasSave ? $"'{e.Domain}' is saved already; restore it before saving it again."
                    : e.Action == ActionKind.Restore && !everSaved ? $"'{e.Domain}' has no save before this restore." : null;
            everSaved |= x.Action == ActionKind.Save;
            lastWasSave = x.Action == ActionKind.Save;
        }
        return null;
    }

    // What modeling costs this machine (issue 20's figures, rounded up): per host frame the frame table (16 B), the
    // m2p (4) and room for heap links, the GC and the runtime (links take 8 B only in 2 MiB chunks that hold a free
    // block); per page of each instance's maxmem a p2m entry (8); a guest page descriptor (16) per page the guest can
    // put to use, which a workload of known size bounds (descriptors of free pages are not kept); the guest kernel,
    // its MMU and TLB, its trackers per domain (measured: about 170 KiB, 2,000 idle guests); and the page index of
    // each file a workload streams.
    private const long ModelBytesPerFrame = 24, ModelBytesPerP2mPage = 8, ModelBytesPerUsedPage = 16, ModelBytesPerDomain = 256 << 10, ModelBytesPerFilePage = 4;
    // Beside a workload's own pages: its page tables, the kernel's text and allocations, and whole 512-page chunks.
    private const long UsedPagesSlack = 64L << 20 >> 12;

    // cpus: "node:N" names a node of the domain's host that has CPUs.
    internal static void CheckCpuNodes(YamlBinder b, YamlNode root, Scenario s)
    {
        for (int i = 0; i < s.Domains.Count; i++)
        {
            var d = s.Domains[i];
            var host = s.Hosts.FirstOrDefault(h => h.Name == d.Host) ?? s.Host;
            // Linux demotes only to slower memory: the guest's nodes after the first must be on memory-only nodes.
            if (d.Guest.Tiering && d.Vnuma is { Count: > 1 } && d.VnodeNotMemoryOnly(host) is { } fast)
                b.Error(DomainField(root, i, "guest"), $"domains[{i}].guest.tiering",
                    $"{d.Name}'s guest demotes to its nodes without CPUs, and its virtual node on pnode {fast.Pnode} is not on a memory-only node (cxl, nvm or nvme) of host '{host.Name}'.");
            if (d.CpuNode is not int n) continue;
            string? why = n >= host.NumaNodes ? $"host '{host.Name}' has {host.NumaNodes} NUMA node(s), 0 to {host.NumaNodes - 1}"
                : host.Nodes is { } tiers && !tiers[n].HasCpus ? $"node {n} of host '{host.Name}' is {Memvisor.Machine.Tiers.TierDefaults.Name(tiers[n].Kind)}, which has no CPUs"
                : null;
            string field = d.Vnuma is null ? "cpus" : "vnuma";
            if (why is not null) b.Error(DomainField(root, i, field), $"domains[{i}].{field}", $"{d.Name}'s vCPUs cannot be pinned to node {n}: {why}.");
            // The other virtual nodes may be on any node of the host, memory-only ones too (Pond's zNUMA).
            foreach (var v in d.Vnuma ?? [])
                if (v.Pnode >= host.NumaNodes)
                    b.Error(DomainField(root, i, "vnuma"), $"domains[{i}].vnuma", $"{d.Name}'s virtual NUMA node on pnode {v.Pnode}: host '{host.Name}' has {host.NumaNodes} NUMA node(s), 0 to {host.NumaNodes - 1}.");
        }
    }

    /// <summary>The host and its guests' maxmem must fit in this machine's memory to be modeled at all: what fits, and why, when they do not.</summary>
    internal static void CheckMachine(YamlBinder b, YamlNode root, Scenario s)
    {
        if (MachineProblem(s) is not { } problem) return;
        if (s.MoreHosts.Count == 0) b.Error(HostNode(root, 0), "host.memory", problem);
        else b.Error(TopNode(root, "hosts"), "hosts", problem);
    }

    /// <summary>Bytes of this machine the guests of a scenario need, whatever the host's size.</summary>
    public static double GuestModelBytes(Scenario s) => s.Domains.Sum(d =>
    {
        long maxPages = PageSize.FromBytes(d.MaxMemBytes);
        long used = UsedPages(d.Workload) is long bound ? Math.Min(maxPages, bound + bound / 4 + UsedPagesSlack) : maxPages;
        return d.Count * (maxPages * (double)ModelBytesPerP2mPage + used * (double)ModelBytesPerUsedPage + ModelBytesPerDomain
            + FilePages(d.Workload) * (double)ModelBytesPerFilePage);
    });

    /// <summary>The pages the scenario's guests keep in use together: each instance's workload size where its kind bounds it, else its maxmem.</summary>
    public static long GuestPagesInUse(Scenario s) =>
        s.Domains.Sum(d => d.Count * Math.Min(PageSize.FromBytes(d.MaxMemBytes), UsedPages(d.Workload) ?? long.MaxValue));

    // Measured (docs/benchmarks.md): one guest's forecast costs 16-20% of wall time at 16-256 MiB working sets, where
    // the simulator's lookups hit its caches anyway, is even at 1 GiB, and halves the default scenario (7 GiB in use).
    private const long ForecastFromPages = 1L << 30 >> 12;

    /// <summary>Whether the guests' accesses are worth forecasting for the simulator's prefetches: their data together outgrows the CPU's caches.</summary>
    public static bool AccessForecastPays(Scenario s) => GuestPagesInUse(s) >= ForecastFromPages;

    /// <summary>Null if this machine can model the scenario (its host frames, guests and files); otherwise why not and what fits, as a sentence.</summary>
    public static string? MachineProblem(Scenario s)
    {
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (available <= 0) return null;
        long usable = available / 10 * 8;
        long frames = s.Hosts.Sum(h => PageSize.FromBytes(h.MemoryBytes));
        double guests = GuestModelBytes(s);
        double needed = frames * (double)ModelBytesPerFrame + guests;
        if (needed <= usable) return null;
        long fits = Math.Max(0, (long)((usable - guests) / ModelBytesPerFrame)) * PageSize.Bytes;
        return $"modeling this scenario needs about {needed / (1L << 30):0.#}GiB of this machine's memory ({ModelBytesPerFrame} bytes per host frame, " +
            $"{ModelBytesPerP2mPage} per page of each guest's maxmem, {ModelBytesPerUsedPage} per page each guest can put to use, {ModelBytesPerDomain >> 10}KiB per guest and {ModelBytesPerFilePage} per page of each streamed file), " +
            $"and Memvisor uses at most 80% of the {available / (double)(1L << 30):0.#}GiB this machine has; " +
            (fits >= 64L << 20 ? $"with these guests, a host of at most {Units.FormatSize(fits >> 20 << 20)} fits." : "the guests' maxmem alone is too much: lower maxmem or count.");
    }

    // The most pages a workload keeps in use, where its kind bounds them: null where it does not (files fill the page
    // cache, traces and spawned processes have no size given).
    private static long? UsedPages(Memvisor.Guest.Workloads.WorkloadSpec w) => w.Kind switch
    {
        "idle" => 0,
        "steady" or "zipf" => w.WorkingSetPages,
        "phases" => w.Phases.Count == 0 ? 0 : w.Phases.Max(p => p.WorkingSetPages),
        "grow" or "grow-shrink" => Math.Max(w.FromPages, w.ToPages),
        "demand" => w.Demand.Count == 0 ? 0 : w.Demand.Max(d => d.UsedPages),
        "mix" => w.Parts.Aggregate((long?)0, (sum, p) => sum is long a && UsedPages(p) is long b ? a + b : null),
        _ => null,
    };

    private static long FilePages(Memvisor.Guest.Workloads.WorkloadSpec w) => w.FilePages + w.Parts.Sum(FilePages);

    internal static void CheckFit(YamlBinder b, YamlNode root, Scenario s)
    {
        var hosts = s.Hosts;
        for (int h = 0; h < hosts.Count; h++)
            CheckFit(b, root, s, hosts[h], s.MoreHosts.Count == 0 ? "host" : $"hosts[{h}]", h);
    }

    // The domains that start on a host fit it at build, with dom0 and the hypervisor's own memory.
    private static void CheckFit(YamlBinder b, YamlNode root, Scenario s, HostSpec host, string path, int index)
    {
        long frames = PageSize.FromBytes(host.MemoryBytes);
        long xen = (frames * Host.XenBytesPerFrame + PageSize.Bytes - 1) / PageSize.Bytes;
        long dom0 = PageSize.FromBytes(host.Dom0Bytes);
        long used = xen + dom0;
        var hostNode = HostNode(root, index);
        if (used > frames)
        {
            b.Error(hostNode, $"{path}.dom0.memory", $"dom0 ({Units.FormatSize(host.Dom0Bytes)}) and the hypervisor's own {PageSize.ToMiB(xen)}MiB do not fit in {Units.FormatSize(host.MemoryBytes)}.");
            return;
        }
        var domainNodes = DomainNodes(root);
        string on = s.MoreHosts.Count == 0 ? "the host" : $"host '{host.Name}'";
        for (int i = 0; i < s.Domains.Count; i++)
        {
            var d = s.Domains[i];
            if (!d.Autostart || s.HostIndex(d.Host) != index) continue;
            foreach (var name in d.InstanceNames())
            {
                var config = ScenarioLoader.ToConfig(d, name, host.Personality);
                used += Host.BuildPagesFor(config, host.Personality);
                if (used > frames)
                {
                    b.Error(domainNodes.ElementAtOrDefault(i), $"domains[{i}].memory",
                        $"{name} does not fit: with dom0, the hypervisor's own {PageSize.ToMiB(xen)}MiB and each domain's paging reserve, " +
                        $"the domains up to it need at build {used * (double)PageSize.Bytes / (1 << 20):0.##}MiB but {on} has {frames * (double)PageSize.Bytes / (1 << 20):0.##}MiB.");
                    return;
                }
            }
        }
    }

    private static IReadOnlyList<YamlNode> DomainNodes(YamlNode root) =>
        ((root as YamlMappingNode)?.Children.FirstOrDefault(c => (c.Key as YamlScalarNode)?.Value == "domains").Value as YamlSequenceNode)?.Children.ToList()
        ?? (IReadOnlyList<YamlNode>)[];
}
