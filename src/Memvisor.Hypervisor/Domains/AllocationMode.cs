namespace Memvisor.Hypervisor.Domains;

/// <summary>How a domain gets its memory at creation.</summary>
public enum AllocationMode
{
    /// <summary>Every page populated when the domain is built, as Xen's domain builder does.</summary>
    Static,
    /// <summary>Only a reservation at creation (populate-on-demand p2m entries); a frame is allocated on first touch.</summary>
    OnDemand,
}
