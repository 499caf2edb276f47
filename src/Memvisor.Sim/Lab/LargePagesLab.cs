using Memvisor.Hypervisor.Mmu;
using Memvisor.Hypervisor.Personalities;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Sim.Lab;

/// <summary>
/// The same scenario with 2 MiB pages at neither level, at the host's (p2m superpages), in the guests' (transparent
/// huge pages) or both (compare --large-pages; <see cref="Names"/> and <see cref="Describe"/>): fewer TLB misses and
/// shorter walks against what splitting costs sharing, ballooning, paging and tiering.
/// </summary>
public static class LargePagesLab
{
    public const string Small = "small";
    public const string Both = "both";

    /// <summary>The variants in the order they are compared.</summary>
    public static IReadOnlyList<string> Names { get; } = [Small, "host", "guest", Both];

    /// <summary>What each variant does, for --help and the docs.</summary>
    public static string Describe(string name) => name switch
    {
        Small => "4 KiB pages: first touches backed by 4 KiB frames on ESX and KVM (Xen and Hyper-V still build memory in 2 MiB extents), nested tables without 2 MiB entries (Xen's hap_2mb=0), guests without transparent huge pages",
        "host" => "the host backs guest memory with 2 MiB pages where it can and the nested tables map them whole; the guests map 4 KiB pages",
        "guest" => "the guests' transparent huge pages (enabled=always) on a host of 4 KiB pages",
        _ => "2 MiB pages at both levels",
    };

    /// <summary>The scenario with large pages set as <paramref name="name"/> says on every host and every HVM guest (PV guests have none, noted).</summary>
    public static Scenario With(Scenario scenario, string name, List<string> notes)
    {
        bool host = name is "host" or Both, guest = name is "guest" or Both;
        // Only ESX and KVM back first touches; Xen and Hyper-V build memory in 2 MiB extents, whose nested mapping is what changes.
        HostSpec Host(HostSpec h) => h.Personality.OnDemand == OnDemandModel.FirstTouch ? h with { Overcommit = h.Overcommit with { LargePages = host } } : h;
        var domains = scenario.Domains.Select(d =>
        {
            bool pv = d.Mmu.Mode == MmuMode.Pv;
            if (pv && guest) notes.Add($"{name}: {d.Name} is a PV guest, which has no huge pages; it keeps 4 KiB pages.");
            return d with { Mmu = d.Mmu with { NestedSuperpages = host }, Guest = d.Guest with { TransparentHugePages = guest && !pv } };
        }).ToList();
        return scenario with { Host = Host(scenario.Host), MoreHosts = [.. scenario.MoreHosts.Select(Host)], Domains = domains };
    }
}
