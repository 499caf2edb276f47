using Memvisor.Hypervisor.Tiers;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Tiers;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Sim.Lab;

/// <summary>
/// The same tiered host under each way of placing pages between its memory nodes (compare --tiering; <see cref="Names"/>
/// and <see cref="Describe"/>): the baseline of the same memory all DRAM, no tiering, the hypervisor's ways
/// (RAMinate's scans, HMvisor's write-aware variant, vSphere's NVMe tiering, TMO's pressure-driven offloading) and
/// the guest's (Pond's zNUMA, and the guest tiering its own nodes). Every host of the scenario with memory nodes of
/// more than one kind gets the variant.
/// </summary>
public static class TieringLab
{
    public const string AllDram = "all-dram";
    public const string Znuma = "znuma";
    public const string GuestTiering = "guest";

    /// <summary>The variants in the order they are compared.</summary>
    public static IReadOnlyList<string> Names { get; } = [AllDram, "none", "transparent", "write-aware", "nvme-tier", "pressure", Znuma, GuestTiering];

    /// <summary>What each variant does, for --help and the docs.</summary>
    public static string Describe(string name) => name switch
    {
        AllDram => "the slower nodes' memory added to the DRAM nodes, no tiering: the baseline",
        "none" => "the nodes as given, pages where the heap put them",
        "transparent" => "RAMinate's accessed-bit scanner: hot pages promoted, cold ones demoted",
        "write-aware" => "transparent, and a page written on a node whose writes cost more promoted at once (HMvisor)",
        "nvme-tier" => "vSphere's NVMe tiering: transparent, and a page touched on NVMe brought back at once",
        "pressure" => "TMO's pressure-driven offloading: transparent (and nvme-tier where there is NVMe), and cold pages offloaded while the guest's stall on slower memory stays under a target",
        Znuma => "Pond's zNUMA: each guest's memory split into a node with its CPUs on DRAM and a CPU-less node on the slower memory, in the host's proportions, and no tiering: the guest fills its local node first",
        _ => "znuma, and the guest kernel tiers its own nodes as Linux does (demotion in reclaim, NUMA balancing's promotion of hot pages): HMvisor's cooperation",
    };

    /// <summary>
    /// The scenario with every tiered host set to <paramref name="name"/>, keeping the scanner settings the scenario
    /// gives (interval, cold_after, moves_per_scan); null with <paramref name="error"/> a sentence when the variant
    /// cannot apply (no tiered host, or nvme-tier on a host without an NVMe node).
    /// </summary>
    public static Scenario? With(Scenario scenario, string name, List<string> notes, out string? error)
    {
        error = null;
        var hosts = new[] { scenario.Host }.Concat(scenario.MoreHosts).ToList();
        if (!hosts.Any(Tiered))
        {
            error = "the scenario has no host with memory nodes of more than one kind (host.nodes), so there is nothing to tier.";
            return null;
        }
        if (name == "nvme-tier" && !hosts.Any(h => Tiered(h) && h.Nodes!.Any(n => n.Kind == MemoryKind.Nvme)))
        {
            error = "nvme-tier brings pages back from NVMe, and no host of the scenario has a node of kind nvme.";
            return null;
        }
        if (name == AllDram)
        {
            var remap = new Dictionary<string, int[]>();
            var changed = hosts.Select(h => Tiered(h) ? AllDramHost(h, notes, remap) : h).ToList();
            // Pinned domains follow their node's new number; virtual NUMA nodes on a node that is gone make the domain one
            // node again (the others are renumbered); no guest tiers its nodes.
            var domains = scenario.Domains.Select(d =>
            {
                d = d with { Guest = d.Guest with { Tiering = false } };
                if (!remap.TryGetValue(d.Host ?? scenario.Host.Name, out var map)) return d;
                if (d.Vnuma is { } vnodes)
                {
                    if (vnodes.All(v => map[v.Pnode] >= 0)) return d with { CpuNode = map[vnodes[0].Pnode], Vnuma = [.. vnodes.Select(v => v with { Pnode = map[v.Pnode] })] };
                    notes.Add($"{AllDram}: {d.Name}'s virtual NUMA nodes on memory that is now DRAM are one node.");
                    return d with { CpuNode = map[vnodes[0].Pnode] < 0 ? null : map[vnodes[0].Pnode], Vnuma = null };
                }
                return d.CpuNode is int n ? d with { CpuNode = map[n] < 0 ? null : map[n] } : d;
            }).ToList();
            var events = scenario.Events.Where(e => e.Node is null || !remap.ContainsKey(HostOf(scenario, e.Domain)) || remap[HostOf(scenario, e.Domain)][e.Node.Value] >= 0)
                .Select(e => e.Node is int n && remap.TryGetValue(HostOf(scenario, e.Domain), out var map) ? e with { Node = map[n] } : e).ToList();
            if (events.Count < scenario.Events.Count) notes.Add($"{AllDram}: {scenario.Events.Count - events.Count} event(s) moving pages to a node that is not DRAM are left out.");
            return scenario with { Host = changed[0], MoreHosts = changed.Skip(1).ToList(), Domains = domains, Events = events };
        }
        if (name is Znuma or GuestTiering)
        {
            var split = hosts.Select(h => Tiered(h) ? h with { Overcommit = h.Overcommit with { Tiering = h.Overcommit.Tiering with { Enabled = false } } } : h).ToList();
            var byHost = hosts.ToDictionary(h => h.Name);
            var domains = scenario.Domains.Select(d => byHost[d.Host ?? scenario.Host.Name] is var h && Tiered(h) && d.Vnuma is null ? WithZnuma(d, h, notes) : d)
                .Select(d => d with { Guest = d.Guest with { Tiering = name == GuestTiering && TiersItself(d, byHost[d.Host ?? scenario.Host.Name]) } }).ToList();
            notes.Add($"{name}: each guest's memory is a node with its CPUs on DRAM and a CPU-less node on the slower memory, in the host's proportions of the two{(name == GuestTiering ? ", and the guest tiers them" : "")}.");
            return scenario with { Host = split[0], MoreHosts = split.Skip(1).ToList(), Domains = domains };
        }
        var options = name switch
        {
            "none" => (Func<TieringOptions, TieringOptions>)(t => t with { Enabled = false }),
            "transparent" => t => t with { Enabled = true, WriteAware = false, PressureTargetNs = 0 },
            "write-aware" => t => t with { Enabled = true, WriteAware = true, PressureTargetNs = 0 },
            "nvme-tier" => t => t with { Enabled = true, WriteAware = false, PressureTargetNs = 0 },
            _ => t => t with { Enabled = true, WriteAware = false, PressureTargetNs = t.PressureTargetNs > 0 ? t.PressureTargetNs : TieringOptions.DefaultPressureTargetNs },
        };
        // Pages come back from NVMe on a touch under nvme-tier, and under pressure as TMO's swap-ins do; a host without NVMe has none to bring back.
        bool onTouch = name is "nvme-tier" or "pressure";
        var tiered = hosts.Select(h => !Tiered(h) ? h
            : h with { Overcommit = h.Overcommit with { Tiering = options(h.Overcommit.Tiering) with { PromoteOnTouch = onTouch && h.Nodes!.Any(n => n.Kind == MemoryKind.Nvme) } } })
            .ToList();
        // The hypervisor's ways leave the guests' placement to the heap (and a scenario's vnuma), not to the guests.
        return scenario with { Host = tiered[0], MoreHosts = tiered.Skip(1).ToList(), Domains = [.. scenario.Domains.Select(d => d with { Guest = d.Guest with { Tiering = false } })] };
    }

    // Pond's zNUMA (Li et al., "Pond: CXL-Based Memory Pooling Systems for Cloud Platforms", ASPLOS'23): the VM's
    // local node on its CPUs' DRAM, the rest a CPU-less node on the cheapest memory-only node; sized here by the host's
    // share of DRAM (Pond sizes it by the memory it predicts the VM leaves untouched), in whole MiB.
    // The vCPUs' node stays the host's to choose when the domain names none (the first vnode follows it).
    private static DomainSpec WithZnuma(DomainSpec d, HostSpec h, List<string> notes)
    {
        var nodes = h.Nodes!;
        double dramShare = (double)nodes.Where(n => n.Kind == MemoryKind.Dram).Sum(n => n.Frames) / nodes.Sum(n => n.Frames);
        const long MiB = 1 << 20;
        long local = Math.Max(MiB, (long)(d.MaxMemBytes * dramShare) / MiB * MiB);
        if (local >= d.MaxMemBytes || d.MaxMemBytes % MiB != 0)
        {
            notes.Add($"{Znuma}: {d.Name} stays one node (its maxmem of {Units.FormatSize(d.MaxMemBytes)} is not two whole-MiB nodes in the host's proportions).");
            return d;
        }
        int slow = Enumerable.Range(0, nodes.Count).Where(i => !nodes[i].HasCpus).OrderBy(i => nodes[i].Costs.ReadNs).ThenBy(i => i).First();
        return d with
        {
            Vnuma = [new Memvisor.Hypervisor.Domains.Vnode(d.CpuNode ?? 0, PageSize.FromBytes(local)), new Memvisor.Hypervisor.Domains.Vnode(slow, PageSize.FromBytes(d.MaxMemBytes - local))],
        };
    }

    // Whether a domain's guest may tier its own nodes: two or more, every one after the first on a memory-only node of its host.
    private static bool TiersItself(DomainSpec d, HostSpec h) => d.Vnuma is { Count: > 1 } && d.VnodeNotMemoryOnly(h) is null;

    private static bool Tiered(HostSpec h) => h.Nodes is { } n && n.Any(x => x.Kind != MemoryKind.Dram);

    private static string HostOf(Scenario s, string? domain) =>
        s.Domains.FirstOrDefault(d => d.InstanceNames().Contains(domain))?.Host ?? s.Host.Name;

    // The host with only its DRAM nodes, each grown by a share of the slower nodes' memory in proportion to its size
    // (whole pages; the last DRAM node takes what rounding leaves), tiering off. remap[host][old node] is the node's
    // new index, or -1 for a node that is gone.
    private static HostSpec AllDramHost(HostSpec h, List<string> notes, Dictionary<string, int[]> remap)
    {
        var nodes = h.Nodes!;
        long dram = nodes.Where(n => n.Kind == MemoryKind.Dram).Sum(n => n.Frames), slow = nodes.Sum(n => n.Frames) - dram;
        var kept = new List<MemoryNodeSpec>();
        var map = new int[nodes.Count];
        long given = 0;
        int lastDram = nodes.Select((n, i) => (n, i)).Last(x => x.n.Kind == MemoryKind.Dram).i;
        for (int i = 0; i < nodes.Count; i++)
        {
            if (nodes[i].Kind != MemoryKind.Dram)
            {
                map[i] = -1;
                continue;
            }
            long extra = i == lastDram ? slow - given : slow * nodes[i].Frames / dram;
            given += extra;
            map[i] = kept.Count;
            kept.Add(nodes[i] with { Frames = nodes[i].Frames + extra });
        }
        remap[h.Name] = map;
        notes.Add($"{AllDram}: {h.Name}'s {Units.FormatSize(slow * PageSize.Bytes)} of {string.Join(", ", nodes.Where(n => n.Kind != MemoryKind.Dram).Select(n => TierDefaults.Name(n.Kind)).Distinct())} made DRAM ({Units.FormatSize((dram + slow) * PageSize.Bytes)} of DRAM), with no tiering.");
        return h with
        {
            NumaNodes = kept.Count,
            Nodes = kept,
            Overcommit = h.Overcommit with { Tiering = h.Overcommit.Tiering with { Enabled = false } },
        };
    }
}
