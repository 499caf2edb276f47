using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Hypervisor.Port;

namespace Memvisor.Hypervisor.Save;

/// <summary>
/// What the toolstack keeps of a saved domain besides its image: the configuration it is restored with, its store
/// keys, and the guest's connection to the hypervisor (its port and vCPU), which the restored domain takes over so the
/// guest kernel resumes where it stopped. Xen keeps the vCPU context in the image; Memvisor's guest kernel is a model
/// whose state stays in the process while its memory goes to the file.
/// </summary>
public sealed class SavedDomain
{
    internal SavedDomain(Domain d, IReadOnlyList<(string Key, string Value)> store)
    {
        Name = d.Name;
        Config = d.Config;
        MaxPages = d.MaxPages;
        TargetPages = d.TargetPages;
        PagingTargetPages = d.Paging.TargetPages;
        P2mCapacity = d.P2m.Capacity;
        (PvPinned, PvBase) = d.Mmu is Mmu.Pv.PvMmu pv ? pv.PinnedTables() : ([], null);
        Counters = d.Counters;
        Port = (DomainPort)d.Port;
        Mmu = d.Mmu!;
        Store = store;
    }

    public string Name { get; }
    public DomainConfig Config { get; }
    public long MaxPages { get; }
    public long TargetPages { get; }
    /// <summary>The hypervisor's paging target for the domain when it was saved (-1: none).</summary>
    public long PagingTargetPages { get; }
    /// <summary>The domain's physical address space (gfns), which its image must have.</summary>
    public ulong P2mCapacity { get; }
    /// <summary>A PV domain's pinned tables (gfn, level) and base table, pinned again in the new domain.</summary>
    internal IReadOnlyList<(ulong Gfn, int Level)> PvPinned { get; }
    internal ulong? PvBase { get; }
    /// <summary>Whether a domain was restored from this already: the guest's port and vCPU are that domain's now.</summary>
    public bool Restored { get; internal set; }
    internal DomainStats Counters { get; }
    internal DomainPort Port { get; }
    internal GuestMmu Mmu { get; }
    /// <summary>The domain's store keys, relative to its subtree, as they were when it was saved.</summary>
    internal IReadOnlyList<(string Key, string Value)> Store { get; }
}
