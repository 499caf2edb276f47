namespace Memvisor.Hypervisor.Tiers;

/// <summary>Pages a host moved between its memory nodes, and what it cost.</summary>
public record struct PageMigrationStats
{
    /// <summary>Pages moved; of them, those moved to a faster node (promoted) and to a slower one (demoted).</summary>
    public long Migrated;
    public long Promoted;
    public long Demoted;
    /// <summary>Moves refused: a page that is not the domain's own RAM, is mapped by a grant or a PV table, or a full node.</summary>
    public long Refused;
    /// <summary>vCPU TLB shootdowns sent for moved pages (one per vCPU of the domain per page).</summary>
    public long Shootdowns;
    /// <summary>Hypervisor time copying pages and shooting down translations.</summary>
    public double HypervisorNs;
}
