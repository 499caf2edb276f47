using Memvisor.Guest.Kernel;
using Memvisor.Guest.Workloads;
using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Hypervisor.Personalities;

namespace Memvisor.Sim.Scenarios;

/// <summary>A scenario: a host (or several), its domains and their workloads, and a timeline of toolstack actions.</summary>
public sealed record Scenario
{
    public required string Name { get; init; }
    public required string Source { get; init; }
    public ulong Seed { get; init; }
    public long DurationNs { get; init; }
    /// <summary>The host (host:), or the first of hosts:; domains that name no host run here.</summary>
    public required HostSpec Host { get; init; }
    /// <summary>The hosts after the first (hosts: with more than one entry), in scenario order.</summary>
    public IReadOnlyList<HostSpec> MoreHosts { get; init; } = [];
    public IReadOnlyList<DomainSpec> Domains { get; init; } = [];
    public IReadOnlyList<ActionSpec> Events { get; init; } = [];
    public long TickNs { get; init; } = 100_000_000;
    public long SampleNs { get; init; } = 1_000_000_000;
    public IReadOnlyDictionary<string, double> Costs { get; init; } = new Dictionary<string, double>();
    /// <summary>The policy daemon; null runs none (as static does, without its decisions in the summary).</summary>
    public PolicySpec? Policy { get; init; }
    /// <summary>The host-level balancer that moves guests between hosts (balance:); null for none.</summary>
    public BalanceSpec? Balance { get; init; }

    /// <summary>Every host, the first one first.</summary>
    public IReadOnlyList<HostSpec> Hosts => [Host, .. MoreHosts];

    /// <summary>The index in <see cref="Hosts"/> of the host named <paramref name="name"/> (null: the first), or -1.</summary>
    public int HostIndex(string? name)
    {
        if (name is null) return 0;
        var hosts = Hosts;
        for (int i = 0; i < hosts.Count; i++)
            if (hosts[i].Name == name) return i;
        return -1;
    }

    /// <summary>Every domain instance the scenario can create, in scenario order (count expanded: web-1 .. web-N).</summary>
    public IEnumerable<(DomainSpec Spec, string Name)> Instances() =>
        Domains.SelectMany(d => d.InstanceNames().Select(n => (d, n)));
}

public sealed record HostSpec(long MemoryBytes, int NumaNodes, long Dom0Bytes, long Dom0MinBytes)
{
    /// <summary>The host's memory nodes with their kinds and costs (host.nodes); null for like DRAM nodes (numa_nodes).</summary>
    public IReadOnlyList<Memvisor.Machine.Tiers.MemoryNodeSpec>? Nodes { get; init; }

    /// <summary>The host's name (host.name, hosts[i].name): domains are placed and migrated by it.</summary>
    public string Name { get; init; } = DefaultName;

    /// <summary>The name of a host that gives none (a single host:).</summary>
    public const string DefaultName = "host";

    /// <summary>Which hypervisor the host is (host.hypervisor), carried in <see cref="Overcommit"/>.</summary>
    public HostPersonality Personality => Overcommit.Personality;

    /// <summary>The host's overcommit mechanisms: sharing, paging, compression, tmem.</summary>
    public OvercommitOptions Overcommit { get; init; } = new();

    /// <summary>The link live migrations go over (host.link).</summary>
    public LinkSpec Link { get; init; } = new();
}

/// <summary>
/// A migration link: its bandwidth in bytes per second and one-way latency. The default is gigabit Ethernet (125 MB/s),
/// the link of Clark et al.'s measurements (NSDI'05), with a LAN's 0.1 ms.
/// </summary>
/// <summary>
/// balance: DRS-style memory balancing between hosts: how often it looks (DRS's default is every 5 minutes) and the
/// host load standard deviation it tolerates (vSphere's "target host load standard deviation").
/// </summary>
public sealed record BalanceSpec(long IntervalNs = 300_000_000_000, double TargetStdDev = 0.05);

/// <summary>disk: a PV disk (blkfront in the guest, blkback in dom0, over the grant table), with or without persistent grants; the default reaches the disk directly.</summary>
public sealed record DiskSpec(bool Pv = false, bool PersistentGrants = false);

/// <summary>nic: a PV network device (netfront in the guest, netback in dom0) receiving and sending at these rates, by grant copy or by page flipping.</summary>
public sealed record NicSpec(bool Pv = false, double RxBytesPerSecond = 0, double TxBytesPerSecond = 0, bool Flip = false);

public sealed record LinkSpec(double BandwidthBytesPerSecond = 125e6, long LatencyNs = 100_000);

public sealed record DomainSpec
{
    public required string Name { get; init; }
    public int Line { get; init; }
    public int Count { get; init; } = 1;
    public long MemoryBytes { get; init; }
    public long MaxMemBytes { get; init; }
    /// <summary>allocation:, or null for the host's hypervisor's default (<see cref="AllocationOn"/>).</summary>
    public AllocationMode? Allocation { get; init; }
    public int Vcpus { get; init; } = 1;
    /// <summary>cpus: "node:N": the NUMA node its vCPUs are pinned to, whose memory its pages come from first; null to let the host choose.</summary>
    public int? CpuNode { get; init; }
    /// <summary>vnuma: the guest's memory as virtual NUMA nodes on host nodes (xl.cfg vnuma), the first with the vCPUs (its pnode is <see cref="CpuNode"/>); null for one node.</summary>
    public IReadOnlyList<Memvisor.Hypervisor.Domains.Vnode>? Vnuma { get; init; }

    /// <summary>
    /// The first of the domain's virtual nodes after the first that is not on a memory-only node of <paramref name="host"/>
    /// (the guest may tier its nodes only when there is none: Linux demotes only to slower memory); null when every one is.
    /// </summary>
    public Memvisor.Hypervisor.Domains.Vnode? VnodeNotMemoryOnly(HostSpec host) =>
        Vnuma?.Skip(1).FirstOrDefault(v => host.Nodes is not { } nodes || v.Pnode >= nodes.Count || nodes[v.Pnode].HasCpus);
    public bool Autostart { get; init; } = true;
    /// <summary>Whether the sharing scanner looks at this domain (when the host shares); null takes the hypervisor's default (Xen shares only nominated domains); false for a PV domain.</summary>
    public bool? Sharing { get; init; }
    /// <summary>How the domain's page tables are virtualized (mmu: and mmu_options:).</summary>
    public MmuOptions Mmu { get; init; } = new();
    /// <summary>The hypervisor pages this domain out down to this many bytes; null for no paging until a paging-target action.</summary>
    public long? PagingTargetBytes { get; init; }
    /// <summary>squeezed's range for the domain; null takes the domain's memory.</summary>
    public long? DynamicMinBytes { get; init; }
    public long? DynamicMaxBytes { get; init; }
    /// <summary>ESX: shares (null: 10 per MiB of memory), reservation and limit (null: dynamic_min and dynamic_max).</summary>
    public long? Shares { get; init; }
    public long? ReservationBytes { get; init; }
    public long? LimitBytes { get; init; }
    /// <summary>Hyper-V: minimum and maximum RAM (null: dynamic_min and dynamic_max), buffer in percent and weight; startup RAM is memory.</summary>
    public long? MinimumBytes { get; init; }
    public long? MaximumBytes { get; init; }
    public int? BufferPercent { get; init; }
    public int? Weight { get; init; }
    /// <summary>Hyper-V's minimum RAM: `minimum`, else dynamic_min, else memory capped at dynamic_max (as the hyperv policy and Smart Paging read it).</summary>
    public long MinimumRamBytes => MinimumBytes ?? DynamicMinBytes ?? Math.Min(MemoryBytes, DynamicMaxBytes ?? MemoryBytes);
    /// <summary>The guest kernel's settings (swap, kernel image, reclaim and write-back tunables).</summary>
    public GuestOptions Guest { get; init; } = new();
    public required WorkloadSpec Workload { get; init; }
    /// <summary>The host the domain is built on (host:); null for the first.</summary>
    public string? Host { get; init; }
    /// <summary>How its disk is reached (disk:): directly (emulated), or through Xen's split block driver.</summary>
    public DiskSpec Disk { get; init; } = new();
    /// <summary>Its network traffic through Xen's split network driver (nic:); none by default.</summary>
    public NicSpec Nic { get; init; } = new();

    /// <summary>The allocation the domain gets on a host of <paramref name="host"/>'s hypervisor.</summary>
    public AllocationMode AllocationOn(HostPersonality host) => Allocation ?? host.DefaultAllocation;

    /// <summary>Whether the sharing scanner looks at this domain on a host of <paramref name="host"/>'s hypervisor.</summary>
    public bool SharingOn(HostPersonality host) => host.HasSharing && (Sharing ?? host.SharesByDefault);

    public IEnumerable<string> InstanceNames() =>
        Count == 1 ? [Name] : Enumerable.Range(1, Count).Select(i => $"{Name}-{i}");
}

public enum ActionKind { Create, Destroy, MemSet, MemMax, PagingTarget, HotAdd, HotRemove, Restart, Save, Restore, Migrate, Evacuate, MigratePages }

public sealed record ActionSpec(long AtNs, ActionKind Action, string Domain, long? MemoryBytes, int Line)
{
    /// <summary>migrate and evacuate: the host the domains go to (to:); null for the same host (migrate) or the one with most free memory (evacuate).</summary>
    public string? To { get; init; }
    /// <summary>migrate with postcopy: the pre-copy rounds before the guest moves (precopy_rounds:, 1 by default); null for pre-copy only.</summary>
    public int? PostCopyAfterRounds { get; init; }
    /// <summary>migratepages: the memory node the domain's pages go to (node:).</summary>
    public int? Node { get; init; }
    /// <summary>evacuate: the host every guest leaves (host:).</summary>
    public string? Host { get; init; }
    /// <summary>Its place in the scenario's events list (errors name it), which the timeline sorts by time.</summary>
    public int Index { get; init; }

    public static string NameOf(ActionKind kind) => kind switch
    {
        ActionKind.Create => "create",
        ActionKind.Destroy => "destroy",
        ActionKind.MemSet => "mem-set",
        ActionKind.MemMax => "mem-max",
        ActionKind.PagingTarget => "paging-target",
        ActionKind.HotAdd => "hot-add",
        ActionKind.HotRemove => "hot-remove",
        ActionKind.Restart => "restart",
        ActionKind.Save => "save",
        ActionKind.Restore => "restore",
        ActionKind.Migrate => "migrate",
        ActionKind.Evacuate => "evacuate",
        ActionKind.MigratePages => "migratepages",
        _ => kind.ToString(),
    };
}
