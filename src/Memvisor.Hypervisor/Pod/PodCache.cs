namespace Memvisor.Hypervisor.Pod;

/// <summary>
/// A populate-on-demand domain's cache (Xen's p2m->pod): frames the domain owns (they count in tot_pages) that no
/// gfn maps yet; a first touch of a PoD entry takes one. The sweep hand is where the next emergency sweep starts.
/// </summary>
public sealed class PodCache
{
    internal readonly List<uint> Frames = [];

    /// <summary>Frames in the cache (p2m->pod.count).</summary>
    public long Count => Frames.Count;

    /// <summary>The gfn the next emergency sweep starts from, going down (p2m->pod.reclaim_single); 0 starts from <see cref="MaxGuest"/>.</summary>
    internal ulong SweepHand { get; set; }

    /// <summary>The highest gfn a first touch has populated (p2m->pod.max_guest): no sweep looks above it.</summary>
    internal ulong MaxGuest { get; set; }

    /// <summary>The live counters; <see cref="Stats"/> is a copy for readers.</summary>
    internal PodStats Counters;
    public PodStats Stats => Counters;
}
