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
    /// <summary>The most chunks one plan or one shrink takes.</summary>
    public const long MaxSteps = 1L << 24;

    private readonly HashSet<string> _paging = [];
    private double? _baseScanRate;

    public bool ReadsMissCurves => true;
    public string Name => "predictive";
    public long IntervalNs => intervalNs;
    public PredictiveOptions Options => options;

    public IReadOnlyList<PolicyAction> Decide(HostSnapshot host)
    {
        var actions = new List<PolicyAction>();
        var controlled = host.Domains.Where(d => d.FeatureBalloon && !d.Uncooperative && d.Mrc is not null).ToList();
        var isControlled = controlled.ToHashSet(ReferenceEqualityComparer.Instance);
        long fixedPages = host.Domains.Where(d => !isControlled.Contains(d)).Sum(d => d.TotPages);
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
            var granted = new Dictionary<string, long>();
            foreach (var d in controlled.OrderByDescending(d => Gain(d, d.TargetPages, options.ChunkPages)))
            {
                long grant = Math.Min(plan[d.Name] - d.TargetPages, freeNow);
                if (grant <= Margin(d)) continue;
                freeNow -= grant;
                granted[d.Name] = d.TargetPages + grant;
            }
            Rebalance(controlled, plan, granted);
            foreach (var (name, target) in granted) actions.Add(PolicyAction.MemSet(name, target));
        }

        // Sharing before swapping: speed the scanner up under pressure, back to its rate after.
        if (host.SharingScanRate > 0)
        {
            _baseScanRate ??= host.SharingScanRate;
            double rate = pressure ? Math.Max(options.SharingBoostRate, _baseScanRate.Value) : _baseScanRate.Value;
            if (Math.Abs(rate - host.SharingScanRate) > 0.5) actions.Add(new PolicyAction(PolicyActionKind.SharingScanRate, "", rate));
        }
        // A guest still well above a lower target under pressure is paged to it (compression first); paging stops once it is there.
        var newTargets = new Dictionary<string, long>();
        foreach (var a in actions)
            if (a.Kind == PolicyActionKind.MemSet) newTargets[a.Domain] = (long)a.Value;
        foreach (var d in controlled)
        {
            long target = newTargets.TryGetValue(d.Name, out long t) ? t : d.TargetPages;
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
    /// Memory badly placed on a host that is not short: guests still below their plan once free memory is granted,
    /// while others sit above theirs. The plan is the curves' best use of all the memory, so memory moves toward it:
    /// taken from the guests above their plan whose curves lose fewest misses for it, and given, as much as is
    /// taken, to the guests below theirs that gain most. Changes <paramref name="targets"/> (name to new target).
    /// </summary>
    private void Rebalance(IReadOnlyList<DomainSnapshot> controlled, Dictionary<string, long> plan, Dictionary<string, long> targets)
    {
        long Target(DomainSnapshot d) => targets.TryGetValue(d.Name, out long t) ? t : d.TargetPages;
        var short_ = controlled.Where(d => plan[d.Name] - Target(d) > Margin(d)).OrderByDescending(d => Gain(d, Target(d), options.ChunkPages)).ToList();
        if (short_.Count == 0) return;
        long wanted = short_.Sum(d => plan[d.Name] - Target(d));
        long taken = 0;
        foreach (var d in controlled.Where(d => Target(d) - plan[d.Name] > Margin(d)).OrderBy(d => Gain(d, plan[d.Name], Target(d) - plan[d.Name])))
        {
            long take = Math.Min(Target(d) - plan[d.Name], wanted - taken);
            if (take <= 0) break;
            targets[d.Name] = Target(d) - take;
            taken += take;
        }
        foreach (var d in short_)
        {
            long give = Math.Min(plan[d.Name] - Target(d), taken);
            if (give <= 0) break;
            targets[d.Name] = Target(d) + give;
            taken -= give;
        }
    }

    /// <summary>
    /// New targets that free <paramref name="shortfall"/> pages, a chunk at a time from the guest whose curve
    /// predicts the fewest extra misses for it, never below its dynamic-min or kernel floor.
    /// </summary>
    public static Dictionary<string, long> Shrink(IReadOnlyList<DomainSnapshot> domains, long shortfall, long chunkPages)
    {
        var size = new long[domains.Count];
        // Chunks grow past chunkPages only where more than 2^24 of them would be needed, so no snapshot makes a decision run for hours.
        long step = Math.Max(chunkPages, (shortfall + MaxSteps - 1) / MaxSteps);
        // The cheapest chunk first: a heap of (loss, index), so ties go to the earlier domain and each step costs log n.
        var heap = new PriorityQueue<int, (double Loss, int Index)>();
        for (int i = 0; i < domains.Count; i++)
        {
            size[i] = Math.Min(domains[i].TargetPages, domains[i].TotPages);
            Offer(i);
        }
        var changed = new Dictionary<string, long>();
        while (shortfall > 0 && heap.TryDequeue(out int i, out _))
        {
            size[i] -= step;
            changed[domains[i].Name] = size[i];
            shortfall -= step;
            Offer(i);
        }
        return changed;

        void Offer(int i)
        {
            var d = domains[i];
            if (size[i] - step < Math.Max(d.DynamicMinPages, d.FloorPages + chunkPages)) return;
            double loss = Gain(d, size[i] - step, step);
            if (loss < double.MaxValue) heap.Enqueue(i, (loss, i));
        }
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
        int n = domains.Count;
        var min = new long[n];
        var max = new long[n];
        var alloc = new long[n];
        var curves = new double[n][];
        long rest = budget;
        for (int i = 0; i < n; i++)
        {
            var d = domains[i];
            min[i] = Math.Max(d.DynamicMinPages, d.FloorPages + chunkPages);
            max[i] = Math.Max(min[i], d.DynamicMaxPages);
            alloc[i] = min[i];
            curves[i] = Suffix(d.Mrc!);
            rest -= min[i];
        }
        // The chunk that saves most misses first: a heap of (-gain, index), so ties go to the earlier domain and each
        // step costs log n instead of a pass over every domain.
        var heap = new PriorityQueue<int, (double NegativeGain, int Index)>();
        // Chunks grow past chunkPages only where more than 2^24 of them would be needed, so no snapshot makes a decision run for hours.
        long step = Math.Max(chunkPages, (rest + MaxSteps - 1) / MaxSteps);
        for (int i = 0; i < n; i++) Offer(i);
        while (rest >= step && heap.TryDequeue(out int best, out _))
        {
            alloc[best] += step;
            rest -= step;
            Offer(best);
        }
        long room = 0;
        for (int i = 0; i < n; i++) room += max[i] - alloc[i];
        if (rest > 0 && room > 0)
        {
            double f = Math.Min(1, (double)rest / room);
            for (int i = 0; i < n; i++) alloc[i] += (long)Math.Floor(f * (max[i] - alloc[i]));
        }
        var plan = new Dictionary<string, long>(n);
        for (int i = 0; i < n; i++) plan[domains[i].Name] = alloc[i];
        return plan;

        void Offer(int i)
        {
            var d = domains[i];
            long a = alloc[i];
            if (a + step > max[i]) return;
            double gain = Misses(curves[i], d.Mrc!, a - d.FloorPages) - Misses(curves[i], d.Mrc!, a + step - d.FloorPages);
            if (gain > 0) heap.Enqueue(i, (-gain, i));
        }
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
