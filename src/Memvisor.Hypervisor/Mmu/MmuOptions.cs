namespace Memvisor.Hypervisor.Mmu;

/// <summary>A domain's MMU virtualization settings (scenario <c>mmu:</c> and <c>mmu_options:</c>).</summary>
public sealed record MmuOptions
{
    public MmuMode Mode { get; init; } = MmuMode.Hap;
    /// <summary>TLB entries per vCPU (a power of two; a Skylake core's second-level TLB holds 1536).</summary>
    public int TlbEntries { get; init; } = 2048;
    /// <summary>ASID/VPID-tagged TLB: entries of other address spaces survive a CR3 switch and a world switch.</summary>
    public bool TaggedTlb { get; init; } = true;
    /// <summary>Paging-structure caches: the guest's PDE cache and, under hap, the nested TLB of guest-physical translations.</summary>
    public bool WalkCaches { get; init; } = true;
    /// <summary>Nested (p2m) 2 MiB pages where a 2 MiB guest-physical region is backed by one aligned machine extent (Xen's hap_2mb).</summary>
    public bool NestedSuperpages { get; init; } = true;
    /// <summary>Out-of-sync L1 pages allowed at once per vCPU (Xen's SHADOW_OOS_PAGES, 3).</summary>
    public int OosLimit { get; init; } = 3;
    /// <summary>PV: updates the guest queues before it issues one mmu_update (Linux's lazy MMU batch, 32).</summary>
    public int PvBatch { get; init; } = 32;
}
