namespace Memvisor.Policy;

/// <summary>What a policy may ask of the toolstack; never a frame.</summary>
public enum PolicyActionKind
{
    /// <summary>xl mem-set: a new balloon target.</summary>
    MemSet,
    /// <summary>Write memory/uncooperative: the policy gives up on the domain's balloon.</summary>
    MarkUncooperative,
    /// <summary>Hot-add memory (pages) to the domain.</summary>
    HotAdd,
    /// <summary>Set the sharing scanner's rate (pages per second; the domain is empty).</summary>
    SharingScanRate,
    /// <summary>Set the hypervisor's paging target for the domain (pages; -1 stops paging it).</summary>
    PagingTarget,
}

/// <summary>One toolstack action a policy decided on: its kind, the domain it is for and its value (pages, or pages per second).</summary>
public sealed record PolicyAction(PolicyActionKind Kind, string Domain, double Value)
{
    public static PolicyAction MemSet(string domain, long pages) => new(PolicyActionKind.MemSet, domain, pages);
}
