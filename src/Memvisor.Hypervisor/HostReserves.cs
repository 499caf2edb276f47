using Memvisor.Hypervisor.Domains;
using Memvisor.Machine.Frames;

namespace Memvisor.Hypervisor;

// Each domain's reserve: the frames of its paging pool, taken from the host as libxl sizes it.
public sealed partial class Host
{
    /// <summary>Frames for a domain's paging pool, as libxl sizes it (libxl_get_required_shadow_memory: 1 MiB per vCPU + 8 KiB per MiB of maxmem).</summary>
    public static long ReservePagesFor(DomainConfig config) =>
        config.IsDom0 ? 0 : 256L * config.Vcpus + 2 * PageSize.ToMiB(config.MaxPages);

    /// <summary>
    /// What building the domain takes from the host on a hypervisor of <paramref name="personality"/>: its reserve and
    /// overhead, and its memory where that is allocated at build (static, and a Xen PoD domain's cache; Xen's
    /// XENMEM_claim_pages covers it all before the build starts).
    /// </summary>
    public static long BuildPagesFor(DomainConfig config, Personalities.HostPersonality personality)
    {
        bool atBuild = config.Allocation == AllocationMode.Static || personality.OnDemand == Personalities.OnDemandModel.PodCache;
        return HeldPagesFor(config, personality) + (atBuild ? config.MemoryPages : 0);
    }

    /// <summary>What the hypervisor holds for a domain beside its memory: its paging reserve and the personality's per-VM overhead (ESX's).</summary>
    public static long HeldPagesFor(DomainConfig config, Personalities.HostPersonality personality) =>
        ReservePagesFor(config) + personality.OverheadPages(config);

    /// <summary>Grows or shrinks the domain's reserve to <paramref name="pages"/>; false (and no change) if the host is out of frames.</summary>
    internal bool GrowReserve(Domain d, long pages)
    {
        long add = pages - d.ReservePages;
        if (add > Machine.FreeFrames) return false;
        while (d.ReservePages < pages)
        {
            if (!Machine.TryAllocate(0, d.PreferredNode, DomIds.Xen, out uint mfn)) return false;
            d.ReserveMfns.Add(mfn);
        }
        while (d.ReservePages > pages)
        {
            int last = d.ReserveMfns.Count - 1;
            Machine.Free(d.ReserveMfns[last], 0);
            d.ReserveMfns.RemoveAt(last);
        }
        return true;
    }

    private void ReleaseReserve(Domain d)
    {
        foreach (uint mfn in d.ReserveMfns) Machine.Free(mfn, 0);
        d.ReserveMfns.Clear();
    }

}
