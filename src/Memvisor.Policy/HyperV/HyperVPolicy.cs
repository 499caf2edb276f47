using Memvisor.Policy.Snapshot;

namespace Memvisor.Policy.HyperV;

/// <summary>
/// Hyper-V Dynamic Memory. A VM's demand is what its guest has committed (Committed_AS and the kernel's own pages);
/// it is given its demand plus its memory buffer (a percentage), within its minimum and maximum RAM. When the host
/// cannot give every VM that, each keeps its minimum and the rest goes by memory weight. Memory grows by hot-add
/// (once the balloon has given back all it took) and shrinks by the balloon; frees come before grants.
/// </summary>
public sealed class HyperVPolicy(HyperVOptions options, long intervalNs) : IPolicy
{
    public string Name => "hyperv";
    public long IntervalNs => intervalNs;
    public HyperVOptions Options => options;

    public IReadOnlyList<PolicyAction> Decide(HostSnapshot host)
    {
        var controlled = host.Domains.Where(d => d.FeatureBalloon && !d.Uncooperative).ToList();
        var isControlled = controlled.ToHashSet(ReferenceEqualityComparer.Instance);
        long fixedPages = host.Domains.Where(d => !isControlled.Contains(d)).Sum(d => d.TotPages);
        long available = host.FreePages - options.ReservePages + host.Domains.Sum(d => d.TotPages) - fixedPages;
        var want = controlled.ToDictionary(d => d.Name, Desired);
        var alloc = Share(controlled, want, available);
        var actions = new List<PolicyAction>();
        foreach (var d in controlled)
            if (alloc[d.Name] < d.TargetPages - Margin(d)) actions.Add(PolicyAction.MemSet(d.Name, alloc[d.Name]));
        long freeNow = Math.Max(0, host.FreePages - options.ReservePages - controlled.Sum(d => Math.Max(0, d.TargetPages - d.TotPages)));
        foreach (var d in controlled)
        {
            long grant = Math.Min(alloc[d.Name] - d.TargetPages, freeNow);
            if (grant <= Margin(d)) continue;
            freeNow -= grant;
            long target = d.TargetPages + grant;
            long plugged = d.HotplugEnabled ? d.MemoryPages + d.HotplugRequestedPages : d.StaticMaxPages;
            if (target <= plugged)
            {
                actions.Add(PolicyAction.MemSet(d.Name, target));
                continue;
            }
            // Deflate the balloon fully, then hot-add the rest (the toolstack moves the target with it).
            if (d.TargetPages < plugged) actions.Add(PolicyAction.MemSet(d.Name, plugged));
            if (d.HotplugEnabled) actions.Add(new PolicyAction(PolicyActionKind.HotAdd, d.Name, target - plugged));
        }
        return actions;
    }

    /// <summary>Demand plus the buffer, within minimum and maximum RAM.</summary>
    public static long Desired(DomainSnapshot d)
    {
        long demand = d.CommittedAsPages + d.FloorPages;
        long withBuffer = demand + demand * d.BufferPercent / 100;
        return Math.Clamp(withBuffer, d.MinimumPages, Math.Max(d.MinimumPages, d.MaximumPages));
    }

    /// <summary>What each VM gets of <paramref name="available"/>: all it wants if that fits, otherwise its minimum and a share of the rest by weight, none above what it wants.</summary>
    public static Dictionary<string, long> Share(IReadOnlyList<DomainSnapshot> domains, Dictionary<string, long> want, long available)
    {
        var alloc = domains.ToDictionary(d => d.Name, d => Math.Min(d.MinimumPages, want[d.Name]));
        long rest = available - alloc.Values.Sum();
        var open = domains.Where(d => want[d.Name] > alloc[d.Name]).ToList();
        while (rest > 0 && open.Count > 0)
        {
            long weights = Math.Max(1, open.Sum(d => (long)Math.Max(1, d.Weight)));
            long handed = 0;
            foreach (var d in open)
            {
                // In 128 bits: a snapshot's rest of 2^40 pages times a weight of 10,000 overflows 64 (the quotient is at most rest).
                long part = Math.Min(want[d.Name] - alloc[d.Name], (long)((Int128)rest * Math.Max(1, d.Weight) / weights));
                alloc[d.Name] += part;
                handed += part;
            }
            rest -= handed;
            open = open.Where(d => want[d.Name] > alloc[d.Name]).ToList();
            if (handed == 0) break;
        }
        return alloc;
    }

    private static long Margin(DomainSnapshot d) => BalloonProgress.Margin(d.TargetPages);
}
