namespace Memvisor.Hypervisor.P2m;

/// <summary>The type of a p2m entry, after Xen's p2m_type_t (xen/arch/x86/include/asm/p2m.h).</summary>
public enum P2mType : byte
{
    /// <summary>No page at this gfn (p2m_invalid).</summary>
    Invalid = 0,
    /// <summary>Ordinary read-write RAM the domain owns (p2m_ram_rw).</summary>
    Ram = 1,
    /// <summary>Reserved, not yet backed: a zeroed frame is allocated on first touch (p2m_populate_on_demand).</summary>
    PopulateOnDemand = 2,
    /// <summary>Mapped read-only to a frame shared by content, owned by dom_cow; a write copies it (p2m_ram_shared).</summary>
    Shared = 3,
    /// <summary>Evicted to the hypervisor's swap file; the entry's payload is the swap slot (p2m_ram_paged).</summary>
    PagedOut = 4,
    /// <summary>Held compressed in the domain's compression cache (ESX); the payload is the cache slot.</summary>
    Compressed = 5,
    /// <summary>Another domain's frame mapped through a writable grant (p2m_grant_map_rw); not the domain's own page.</summary>
    GrantMapRw = 6,
    /// <summary>Another domain's frame mapped through a read-only grant (p2m_grant_map_ro).</summary>
    GrantMapRo = 7,
    /// <summary>
    /// A post-copy migration's page that has not arrived: the frame is claimed and the domain's, its bytes are still on
    /// the source host; the first access fetches them (QEMU's userfaultfd-backed RAM in postcopy, migration/postcopy-ram.c).
    /// </summary>
    Remote = 8,
}
