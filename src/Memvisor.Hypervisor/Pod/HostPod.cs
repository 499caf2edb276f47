using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Pod;
using Memvisor.Machine.Frames;

namespace Memvisor.Hypervisor;

// Xen's populate-on-demand (xen/arch/x86/mm/p2m-pod.c): the cache, the first-touch path, the emergency sweep of
// zero pages, and the crash of a domain that outruns its cache.
public sealed partial class Host
{
    // p2m-pod.c: POD_SWEEP_LIMIT gfns looked at per emergency sweep, POD_SWEEP_STRIDE at a time.
    private const int PodSweepLimit = 1024;
    private const int PodSweepStride = 16;

    /// <summary>Grows the domain's PoD cache to <paramref name="pages"/> frames while the heap has them (the domain builder's xc_domain_set_pod_target, and a raised target); false if the heap ran out first.</summary>
    private bool FillPodCache(Domain d, long pages)
    {
        var pod = d.Pod!;
        while (pod.Count < pages)
        {
            if (!Machine.TryAllocate(0, d.PreferredNode, d.DomId, out uint mfn)) return false;
            pod.Frames.Add(mfn);
            d.TotPages++;
        }
        return true;
    }

    /// <summary>
    /// p2m_pod_set_mem_target: a target below tot_pages leaves the cache alone (the balloon driver gives back PoD
    /// entries, and the cache is trimmed to what is still owed, in decrease_reservation); otherwise the cache is
    /// sized so that what the domain has populated plus the cache reaches the target, but never beyond the PoD
    /// entries outstanding once anything is populated (the balloon fills the rest). Growing takes frames only while
    /// the heap has them.
    /// </summary>
    internal void SetPodTarget(Domain d, long targetPages)
    {
        var pod = d.Pod!;
        if (targetPages < d.TotPages) return;
        long populated = d.TotPages - pod.Count;
        long want = targetPages - populated;
        if (populated > 0 && want > d.P2m.PodEntries) want = d.P2m.PodEntries;
        want = Math.Max(0, want);
        FillPodCache(d, want);
        TrimPodCache(d, want);
    }

    /// <summary>Gives cache frames beyond <paramref name="keep"/> back to the heap.</summary>
    private void TrimPodCache(Domain d, long keep)
    {
        var pod = d.Pod!;
        while (pod.Count > keep)
        {
            uint mfn = pod.Frames[^1];
            pod.Frames.RemoveAt(pod.Frames.Count - 1);
            Machine.Free(mfn, 0);
            d.TotPages--;
            pod.Counters.Released++;
        }
    }

    /// <summary>A ballooned-out RAM page of a PoD domain goes into its cache (p2m_pod_decrease_reservation); the cache is then trimmed to the entries still owed.</summary>
    internal void PodTakeBallooned(Domain d, ulong gfn, uint mfn)
    {
        M2p[mfn] = P2m.M2p.Invalid;
        d.P2m.Set(gfn, P2mEntry.Invalid);
        // p2m_pod_cache_add scrubs a page as it enters the cache.
        Machine.SetContent(mfn, Memvisor.Machine.Content.ContentHandle.Zero);
        d.Counters.HypervisorNs += Costs.ScrubPageNs;
        d.Pod!.Frames.Add(mfn);
    }

    /// <summary>After a decrease_reservation: the cache never holds more than the domain's outstanding PoD entries.</summary>
    internal void PodCheckLiabilities(Domain d)
    {
        if (d.Pod is { } pod && pod.Count > d.P2m.PodEntries) TrimPodCache(d, d.P2m.PodEntries);
    }

    /// <summary>
    /// Backs a PoD gfn from the cache (p2m_pod_demand_populate). An empty cache is refilled by an emergency sweep of
    /// the domain's zero pages; if that finds none the domain is crashed, as Xen does ("out of PoD memory").
    /// </summary>
    internal bool PodPopulate(Domain d, ulong gfn, out uint mfn)
    {
        var pod = d.Pod!;
        if (pod.Count == 0) PodEmergencySweep(d);
        if (pod.Count == 0)
        {
            CrashDomain(d, $"out of PoD memory: its cache of {PageSize.ToMiB(d.TargetPages)}MiB is used up and a sweep found no zero page (p2m_pod_demand_populate)");
            mfn = 0;
            return false;
        }
        mfn = pod.Frames[^1];
        pod.Frames.RemoveAt(pod.Frames.Count - 1);
        d.P2m.Set(gfn, P2mEntry.Ram(mfn));
        M2p[mfn] = (uint)gfn;
        pod.MaxGuest = Math.Max(pod.MaxGuest, gfn);
        pod.Counters.Served++;
        return true;
    }

    // p2m_pod_emergency_sweep: from the hand (or the highest gfn populated) downwards to gfn 0, POD_SWEEP_STRIDE gfns at a time, up to
    // POD_SWEEP_LIMIT; every zero RAM page is taken back into the cache; it stops after the stride that found one.
    // The next sweep goes on below where this one stopped, from the highest populated gfn once it reached 0.
    private void PodEmergencySweep(Domain d)
    {
        var pod = d.Pod!;
        pod.Counters.Sweeps++;
        ulong capacity = d.P2m.Capacity;
        if (capacity == 0) return;
        Span<byte> page = stackalloc byte[PageSize.Bytes];
        ulong gfn = pod.SweepHand == 0 || pod.SweepHand > pod.MaxGuest ? Math.Min(pod.MaxGuest, capacity - 1) : pod.SweepHand;
        bool bottom = false;
        for (int looked = 0; looked < PodSweepLimit && !bottom;)
        {
            for (int i = 0; i < PodSweepStride && looked < PodSweepLimit && !bottom; i++, looked++)
            {
                var e = d.P2m.Get(gfn);
                // A page another domain has mapped through a grant is held (p2m_pod_zero_check skips pages with extra references).
                if (e.Type == P2mType.Ram && !Grants.IsMapped(e.Mfn))
                {
                    pod.Counters.PagesChecked++;
                    d.Counters.HypervisorNs += Costs.ScrubPageNs;
                    if (PageBytes.IsZero(Machine.View(e.Mfn, page)))
                    {
                        M2p[e.Mfn] = P2m.M2p.Invalid;
                        d.P2m.Set(gfn, P2mEntry.PopulateOnDemand);
                        pod.Frames.Add(e.Mfn);
                        pod.Counters.ZeroReclaimed++;
                    }
                }
                if (gfn == 0) bottom = true;
                else gfn--;
            }
            if (pod.Count > 0) break;
        }
        pod.SweepHand = bottom ? 0 : gfn;
    }

    /// <summary>domain_crash: the domain stops (every access refused from now on) and the event says why; the toolstack destroys it (xl.cfg on_crash=destroy).</summary>
    internal void CrashDomain(Domain d, string why)
    {
        if (d.IsCrashed) return;
        d.IsCrashed = true;
        Events.Add("domain", d.Name, $"crashed: {why}.");
    }
}
