namespace Memvisor.Seam;

/// <summary>What happened when a guest touched one of its pages.</summary>
public enum AccessOutcome
{
    /// <summary>The gfn was backed; the access went straight through.</summary>
    Hit,
    /// <summary>The gfn was populate-on-demand; the hypervisor backed it with a fresh frame first.</summary>
    PopulatedOnDemand,
    /// <summary>The gfn was shared and this was a write: the hypervisor gave the guest its own copy first.</summary>
    Unshared,
    /// <summary>The page was paged out or compressed: the hypervisor brought it back first, and the guest waited.</summary>
    PagedIn,
    /// <summary>A post-copy migration had not brought the page over yet: it was fetched from the source host first, and the guest waited.</summary>
    FetchedRemote,
    /// <summary>The access could not be served (no page at that gfn, or no frame to back it); it is counted, not thrown.</summary>
    Refused,
}
