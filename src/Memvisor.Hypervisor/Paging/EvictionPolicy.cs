namespace Memvisor.Hypervisor.Paging;

/// <summary>How the pager picks a page to evict.</summary>
public enum EvictionPolicy
{
    /// <summary>Random gfns, skipping recently paged-in ones (xenpaging's default policy).</summary>
    Random,
    /// <summary>A clock hand over the gfns, skipping pages whose accessed flag is set (and clearing it), as the second-chance algorithm does.</summary>
    Clock,
}
