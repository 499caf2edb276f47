namespace Memvisor.Hypervisor.P2m;

/// <summary>
/// Why a domain's 2 MiB p2m superpages were split, told by what the first entry to change became: shared with
/// another page, paged out or compressed, given back (ballooned out, or returned to populate-on-demand), moved to
/// another frame (tiering, NUMA migration), or anything else (a grant mapping, a page still on a migration's source).
/// </summary>
public record struct LargePageSplits
{
    public long Sharing;
    public long Paging;
    public long Released;
    public long Moved;
    public long Other;

    internal void Count(P2mType becomes)
    {
        switch (becomes)
        {
            case P2mType.Shared: Sharing++; break;
            case P2mType.PagedOut or P2mType.Compressed: Paging++; break;
            case P2mType.Invalid or P2mType.PopulateOnDemand: Released++; break;
            case P2mType.Ram: Moved++; break;
            default: Other++; break;
        }
    }
}
