namespace Memvisor.Hypervisor.Grants;

/// <summary>What the grant-table operations did, over all domains.</summary>
public record struct GrantStats
{
    /// <summary>GNTTABOP_setup_table calls that gave a domain table frames.</summary>
    public long TablesSetUp;
    /// <summary>Successful map_grant_ref operations.</summary>
    public long Maps;
    /// <summary>Successful unmap_grant_ref operations, and mappings a domain's destruction released.</summary>
    public long Unmaps;
    /// <summary>Successful GNTTABOP_copy operations, and the bytes they copied.</summary>
    public long Copies;
    public long BytesCopied;
    /// <summary>Pages given to another domain by GNTTABOP_transfer.</summary>
    public long Transfers;
    /// <summary>Grant operations refused (no permission, bad reference, entry in use, bad gfn).</summary>
    public long Refused;
    /// <summary>Grant entries of PV page tables that lost their type with the entry still in them (Xen's implicit unmap of a grant PTE).</summary>
    public long ImplicitUnmaps;
    /// <summary>The most foreign frames mapped at once.</summary>
    public long PeakMapped;
}
