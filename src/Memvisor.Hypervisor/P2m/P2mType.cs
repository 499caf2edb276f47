namespace Memvisor.Hypervisor.P2m;

/// <summary>The type of a p2m entry, after Xen's p2m_type_t (xen/arch/x86/include/asm/p2m.h). Later mechanisms add theirs.</summary>
public enum P2mType : byte
{
    /// <summary>No page at this gfn (p2m_invalid).</summary>
    Invalid = 0,
    /// <summary>Ordinary read-write RAM (p2m_ram_rw).</summary>
    Ram = 1,
    /// <summary>Reserved, not yet backed: a frame is allocated on first touch (p2m_populate_on_demand).</summary>
    PopulateOnDemand = 2,
}
