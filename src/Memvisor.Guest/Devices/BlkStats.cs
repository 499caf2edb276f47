namespace Memvisor.Guest.Devices;

/// <summary>One PV block device's figures: requests by kind, the grants the frontend issued, the mappings the backend made and removed, the copies persistent grants cost, and the events each side sent.</summary>
public sealed class BlkStats
{
    public long Reads { get; internal set; }
    public long Writes { get; internal set; }
    public long Errors { get; internal set; }
    /// <summary>Grant entries the frontend filled (gnttab_grant_foreign_access), ring and persistent pages included.</summary>
    public long GrantsIssued { get; internal set; }
    /// <summary>map_grant_ref and unmap_grant_ref calls of the backend for this device.</summary>
    public long BackendMaps { get; internal set; }
    public long BackendUnmaps { get; internal set; }
    /// <summary>Pages the frontend copied to or from a persistently granted page (the price of persistent grants).</summary>
    public long PersistentCopies { get; internal set; }
    /// <summary>Event-channel notifications: frontend to backend (a request pushed) and back (responses pushed).</summary>
    public long FrontendNotifies { get; internal set; }
    public long BackendNotifies { get; internal set; }
    /// <summary>Times the frontend connected again after its domain was restored or migrated.</summary>
    public long Resumes { get; internal set; }
    /// <summary>Pages of the guest kept granted for the device: the ring and, with persistent grants, the pool.</summary>
    public long GrantedPages { get; internal set; }
}
