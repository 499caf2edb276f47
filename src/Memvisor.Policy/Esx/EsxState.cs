namespace Memvisor.Policy.Esx;

/// <summary>ESX's host free-memory states: which reclamation each allows.</summary>
public enum EsxState
{
    /// <summary>Plenty free: no reclamation (page sharing runs anyway); VMs may grow.</summary>
    High,
    /// <summary>Balloon VMs down to their entitlement.</summary>
    Soft,
    /// <summary>Also compress and swap (hypervisor paging) VMs above their entitlement.</summary>
    Hard,
    /// <summary>As hard, and the host is nearly out: paging goes below the entitlement.</summary>
    Low,
}
