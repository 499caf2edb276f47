using Memvisor.Policy.Snapshot;

namespace Memvisor.Policy.Predictive;

/// <summary>
/// Memvisor's own balancer, after MEB (Zhao and Wang, VEE 2009): each guest's miss-ratio curve, from its LRU
/// stack-distance histogram, predicts the faults it would take at any size. Memory is taken only when the host is
/// short (free below twice the reserve), a chunk at a time from the guest whose curve loses fewest hits; when memory
/// is free it is granted, most valuable guest first, up to a plan that fills each guest's range by marginal gain.
/// Under pressure it speeds sharing up first; only a guest whose balloon cannot reach its target is paged (and the
/// hypervisor compresses before it swaps).
/// </summary>
public sealed class PredictivePolicy(PredictiveOptions options, long intervalNs) : IPolicy
{
    private readonly HashSet<string> _paging = [];
    private double? _baseScanRate;

    public string Name => "predictive";
    public long IntervalNs => intervalNs;
    public PredictiveOptions Options => options;

    public IReadOnlyList<PolicyAction> Decide(HostSnapshot host)
    {
        var actions = new List<PolicyAction>();
        var controlled = host.Domains.Where(d => d.FeatureBalloon && !d.Uncooperative && d.Mrc is not null).ToList();
        long fixedPages = host.Domains.Where(d => !controlled.Contains(d)).Sum(d => d.TotPages);
        long budget = host.FreePages - options.ReservePages + host.Domains.Sum(d => d.TotPages) - fixedPages;
        var plan = Plan(controlled, budget, options.ChunkPages);
        bool pressure = (double)host.FreePages / Math.Max(1, host.TotalPages) < options.PressureShare;

        // Memory is taken only when the host is short, and then from where the curves say it costs the fewest
        // faults; until then the host's own sharing and compression absorb what the guests do not use.
        long shortfall = 2 * options.ReservePages - host.FreePages;
        if (shortfall > 0)
        {
            foreach (var (name, target) in Shrink(controlled, shortfall, options.ChunkPages))
                actions.Add(PolicyAction.MemSet(name, target));
        }
        else
        {
            // Grants up to the plan, from memory free now (a guest short of its target is not counted as taking
            // it: a working set smaller than the target never will).
            long freeNow = Math.Max(0, host.FreePages - 2 * options.ReservePages);
            foreach (var d in controlled.OrderByDescending(d => Gain(d, d.TargetPages, options.ChunkPages)))
            {
                long grant = Math.Min(plan[d.Name] - d.TargetPages, freeNow);
                if (grant <= Margin(d)) continue;
                freeNow -= grant;
                actions.Add(PolicyAction.MemSet(d.Name, d.TargetPages + grant));
            }
        }

        // Sharing before swapping: speed the scanner up under pressure, back to its rate after.
        if (host.SharingScanRate > 0)
        {
            _baseScanRate ??= host.SharingScanRate;
            double rate = pressure ? Math.Max(options.SharingBoostRate, _baseScanRate.Value) : _baseScanRate.Value;
            if (Math.Abs(rate - host.SharingScanRate) > 0.5) actions.Add(new PolicyAction(PolicyActionKind.SharingScanRate, "", rate));
        }
        // A guest still well above a lower target under pressure is paged to it (compression first); paging stops once it is there.
        foreach (var d in controlled)
        {
            long target = actions.LastOrDefault(a => a.Kind == PolicyActionKind.MemSet && a.Domain == d.Name)?.Value is double v ? (long)v : d.TargetPages;
            if (pressure && d.TotPages > target + 4 * Margin(d))
            {
                actions.Add(new PolicyAction(PolicyActionKind.PagingTarget, d.Name, target));
                _paging.Add(d.Name);
            }
            else if (!pressure && _paging.Remove(d.Name))
            {
                actions.Add(new PolicyAction(PolicyActionKind.PagingTarget, d.Name, -1));
            }
        }
        return actions;
    }

    /// <summary>
    /// New targets that free <paramref name="shortfall"/> pages, a chunk at a time from the guest whose curve
    /// predicts the fewest extra misses for it, never below its dynamic-min or kernel floor.
    /// </summary>
    public static Dictionary<string, long> Shrink(IReadOnlyList<DomainSnapshot> domains, long shortfall, long chunkPages)
    {
        var size = domains.ToDictionary(d => d.Name, d => Math.Min(d.TargetPages, d.TotPages));
        var changed = new Dictionary<string, long>();
        while (shortfall > 0)
        {
            DomainSnapshot? cheapest = null;
            double lowest = double.MaxValue;
            foreach (var d in domains)
            {
                long a = size[d.Name];
                if (a - chunkPages < Math.Max(d.DynamicMinPages, d.FloorPages + chunkPages)) continue;
                double loss = Gain(d, a - chunkPages, chunkPages);
                if (loss < lowest) (lowest, cheapest) = (loss, d);
            }
            if (cheapest is null) break;
            size[cheapest.Name] -= chunkPages;
            changed[cheapest.Name] = size[cheapest.Name];
            shortfall -= chunkPages;
        }
        return changed;
    }

    /// <summary>Misses the curve predicts a guest of <paramref name="pages"/> would avoid with a chunk more.</summary>
    public static double Gain(DomainSnapshot d, long pages, long chunkPages) =>
        d.Mrc is not { } c ? 0 : c.MissesAt(pages - d.FloorPages) - c.MissesAt(pages + chunkPages - d.FloorPages);

    /// <summary>
    /// Each guest's size for <paramref name="budget"/> pages: its dynamic-min (at least its kernel floor) first, then
    /// chunk by chunk to the guest whose predicted misses fall most, then what is left split in equal fractions of
    /// what each may still take up to dynamic-max.
    /// </summary>
    public static Dictionary<string, long> Plan(IReadOnlyList<DomainSnapshot> domains, long budget, long chunkPages)
    {
        var min = domains.ToDictionary(d => d.Name, d => Math.Max(d.DynamicMinPages, d.FloorPages + chunkPages));
        var max = domains.ToDictionary(d => d.Name, d => Math.Max(min[d.Name], d.DynamicMaxPages));
        var alloc = new Dictionary<string, long>(min);
        var curves = domains.ToDictionary(d => d.Name, d => Suffix(d.Mrc!));
        long rest = budget - alloc.Values.Sum();
        while (rest >= chunkPages)
        {
            DomainSnapshot? best = null;
            double bestGain = 0;
            foreach (var d in domains)
            {
                long a = alloc[d.Name];
                if (a + chunkPages > max[d.Name]) continue;
                double gain = Misses(curves[d.Name], d.Mrc!, a - d.FloorPages) - Misses(curves[d.Name], d.Mrc!, a + chunkPages - d.FloorPages);
                if (gain > bestGain) (bestGain, best) = (gain, d);
            }
            if (best is null) break;
            alloc[best.Name] += chunkPages;
            rest -= chunkPages;
        }
        long room = domains.Sum(d => max[d.Name] - alloc[d.Name]);
        if (rest > 0 && room > 0)
        {
            double f = Math.Min(1, (double)rest / room);
            foreach (var d in domains) alloc[d.Name] += (long)Math.Floor(f * (max[d.Name] - alloc[d.Name]));
        }
        return alloc;
    }

    // misses[b] = cold + hits in buckets b and beyond: the curve at b whole buckets, in O(1) per query.
    private static double[] Suffix(MissCurve c)
    {
        var s = new double[c.Hits.Count + 1];
        s[c.Hits.Count] = c.Cold;
        for (int b = c.Hits.Count - 1; b >= 0; b--) s[b] = s[b + 1] + c.Hits[b];
        return s;
    }

    private static double Misses(double[] suffix, MissCurve c, long pages)
    {
        if (pages <= 0) return suffix[0];
        long b = pages / c.BucketPages;
        if (b >= c.Hits.Count) return suffix[^1];
        double part = (double)(pages - b * c.BucketPages) / c.BucketPages;
        return suffix[b] - part * c.Hits[(int)b];
    }

    private long Margin(DomainSnapshot d) => Math.Max(256, (long)(d.TargetPages * options.Hysteresis));
}
