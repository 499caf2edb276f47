namespace Memvisor.Hypervisor.Pod;

/// <summary>What a populate-on-demand domain's cache did.</summary>
public record struct PodStats
{
    /// <summary>First touches served from the cache.</summary>
    public long Served;
    /// <summary>Emergency sweeps run because the cache was empty at a touch.</summary>
    public long Sweeps;
    /// <summary>Guest pages the sweeps checked for zeros.</summary>
    public long PagesChecked;
    /// <summary>Zero pages the sweeps took back into the cache (their gfns became populate-on-demand again).</summary>
    public long ZeroReclaimed;
    /// <summary>Frames the cache gave back to the host (the target fell, or the guest ballooned out more than it owed).</summary>
    public long Released;
}
