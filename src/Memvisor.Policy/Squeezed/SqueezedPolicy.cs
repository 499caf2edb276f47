using Memvisor.Policy.Snapshot;

namespace Memvisor.Policy.Squeezed;

/// <summary>
/// XenServer's squeezed (dynamic memory control): the memory the host can give its domains (free memory beyond the
/// reserve plus what they hold) is split so that every cooperative ballooning domain sits at the same fraction of
/// its range, dynamic-min + f x (dynamic-max - dynamic-min): all at dynamic-max when memory is plentiful, all at
/// dynamic-min when it is scarce. Frees come before allocations: targets go down at once, targets go up only by
/// what is free now. A domain asked to shrink that makes no progress is stuck, then uncooperative; it keeps what it
/// holds and is left out of the split.
/// </summary>
public sealed class SqueezedPolicy(SqueezedOptions options, long intervalNs) : IPolicy
{
    private readonly Dictionary<string, (long Current, int Stuck)> _progress = [];

    public string Name => "squeezed";
    public long IntervalNs => intervalNs;
    public SqueezedOptions Options => options;

    /// <summary>Domains squeezed has found stuck (no progress toward a lower target), by name.</summary>
    public IReadOnlyCollection<string> Stuck => [.. _progress.Where(p => p.Value.Stuck >= options.StuckAfter).Select(p => p.Key)];

    public IReadOnlyList<PolicyAction> Decide(HostSnapshot host)
    {
        var actions = new List<PolicyAction>();
        var controlled = new List<DomainSnapshot>();
        long fixedPages = 0, held = 0;
        foreach (var d in host.Domains)
        {
            held += d.TotPages;
            if (!d.FeatureBalloon || d.DynamicMaxPages <= 0)
            {
                fixedPages += d.TotPages;
                continue;
            }
            int stuck = Track(d);
            if (stuck == options.UncooperativeAfter && !d.Uncooperative)
                actions.Add(new PolicyAction(PolicyActionKind.MarkUncooperative, d.Name, 1));
            if (d.Uncooperative || stuck >= options.UncooperativeAfter)
            {
                fixedPages += d.TotPages;
                continue;
            }
            controlled.Add(d);
        }
        long available = host.FreePages - options.ReservePages + held - fixedPages;
        double f = Fraction(controlled, available);
        // Frees before allocations: targets go down at once; a target rises only by memory free now, less what
        // domains still below their targets will take.
        long freeNow = Math.Max(0, host.FreePages - options.ReservePages - controlled.Sum(d => Math.Max(0, d.TargetPages - d.TotPages)));
        foreach (var d in controlled)
        {
            long target = TargetAt(d, f);
            if (target < d.TargetPages) actions.Add(PolicyAction.MemSet(d.Name, target));
        }
        foreach (var d in controlled)
        {
            long grant = Math.Min(TargetAt(d, f) - d.TargetPages, freeNow);
            if (grant <= 0) continue;
            freeNow -= grant;
            actions.Add(PolicyAction.MemSet(d.Name, d.TargetPages + grant));
        }
        return actions;
    }

    /// <summary>The target of a domain at fraction <paramref name="f"/> of its range.</summary>
    public static long TargetAt(DomainSnapshot d, double f) =>
        d.DynamicMinPages + (long)Math.Floor(f * (d.DynamicMaxPages - d.DynamicMinPages));

    /// <summary>The one fraction of their ranges at which the domains' targets add up to <paramref name="available"/>, clamped to 0..1.</summary>
    public static double Fraction(IReadOnlyList<DomainSnapshot> domains, long available)
    {
        long min = domains.Sum(d => d.DynamicMinPages), span = domains.Sum(d => d.DynamicMaxPages - d.DynamicMinPages);
        if (span <= 0) return available >= min ? 1 : 0;
        return Math.Clamp((double)(available - min) / span, 0, 1);
    }

    // Counts consecutive decisions in which a domain above its target did not move down.
    private int Track(DomainSnapshot d)
    {
        var (last, stuck) = _progress.GetValueOrDefault(d.Name, (long.MaxValue, 0));
        stuck = BalloonProgress.AskedToShrink(d.CurrentPages, d.TargetPages) && d.CurrentPages >= last ? stuck + 1 : 0;
        _progress[d.Name] = (d.CurrentPages, stuck);
        return stuck;
    }
}
