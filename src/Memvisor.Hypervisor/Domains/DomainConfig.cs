namespace Memvisor.Hypervisor.Domains;

/// <summary>What the toolstack asks for when it builds a domain (the memory part of an xl.cfg).</summary>
public sealed record DomainConfig
{
    public required string Name { get; init; }
    /// <summary>xl.cfg memory: the pages the domain starts with (its initial target).</summary>
    public required long MemoryPages { get; init; }
    /// <summary>xl.cfg maxmem: max_pages, and the size of the guest's physical address space.</summary>
    public required long MaxPages { get; init; }
    public AllocationMode Allocation { get; init; } = AllocationMode.Static;
    public int Vcpus { get; init; } = 1;
    /// <summary>NUMA node to allocate from first; null lets the hypervisor pick the node with most free memory.</summary>
    public int? PreferredNode { get; init; }
    /// <summary>
    /// xl.cfg's vnuma: the guest's physical memory as virtual NUMA nodes, in gfn order, each of these pages placed on
    /// its physical node (pnode); the first holds the vCPUs. Null for one node (the whole memory on <see cref="PreferredNode"/>).
    /// </summary>
    public IReadOnlyList<Vnode>? Vnodes { get; init; }
    /// <summary>The floor the toolstack never sets the target below (dom0_mem's minimum; 0 for guests).</summary>
    public long MinPages { get; init; }
    public bool IsDom0 { get; init; }
    /// <summary>A populate-on-demand domain's memory map at boot, in pages: null is memory (the balloon driver gives the rest back at boot); maxmem for a guest without one.</summary>
    public long? PhysmapPages { get; init; }
    /// <summary>Whether the sharing scanner looks at this domain's pages (when the host shares at all).</summary>
    public bool Sharing { get; init; } = true;
    /// <summary>The most pages the hypervisor may swap out of this domain (ESX's per-VM swap file: configured memory less the reservation); null for no limit but the swap device's.</summary>
    public long? SwapLimitPages { get; init; }
    /// <summary>How the domain's page tables are virtualized (xl.cfg type=pv, or hvm with hap=0/1).</summary>
    public Mmu.MmuOptions Mmu { get; init; } = new();
}

/// <summary>One virtual NUMA node of a domain (xl.cfg vnuma's pnode and size): <paramref name="Pages"/> of its physical memory on host node <paramref name="Pnode"/>.</summary>
public sealed record Vnode(int Pnode, long Pages);
