using Memvisor.Policy.Snapshot;

namespace Memvisor.Policy.Mom;

/// <summary>
/// oVirt's Memory Overcommitment Manager with its default balloon and KSM rules. The host is under pressure when
/// its free share is below 20% (critical below 5%). Under pressure each ballooning guest is shrunk toward keeping
/// 20% of its memory available, by at most 5% of its memory per decision (10% when critical); without pressure a
/// guest with less than 25% available grows back by the same bounded step, up to its static-max. KSM (the sharing
/// scanner) runs faster under pressure (pages per scan +300, up to 1250) and slows otherwise (-50, down to 64).
/// </summary>
public sealed class MomPolicy(MomOptions options, long intervalNs) : IPolicy
{
    private int _ksmPages = options.KsmPagesMin;

    public string Name => "mom";
    public long IntervalNs => intervalNs;
    public MomOptions Options => options;

    /// <summary>KSM's pages per scan as MOM last set it.</summary>
    public int KsmPages => _ksmPages;

    public IReadOnlyList<PolicyAction> Decide(HostSnapshot host)
    {
        var actions = new List<PolicyAction>();
        double freeShare = host.TotalPages == 0 ? 1 : (double)host.FreePages / host.TotalPages;
        bool pressure = freeShare < options.PressureThreshold, critical = freeShare < options.CriticalThreshold;
        foreach (var d in host.Domains)
        {
            if (!d.FeatureBalloon || d.Uncooperative) continue;
            long current = d.CurrentPages;
            long step = (long)(current * options.MaxChange * (critical ? 2 : 1));
            long target = d.TargetPages;
            if (pressure)
            {
                // Give back what is available beyond the minimum free share, a bounded step at a time.
                long excess = d.MemAvailablePages - (long)(options.MinGuestFree * current);
                if (excess > 0) target = current - Math.Min(excess, step);
            }
            else if (d.MemAvailablePages < options.MaxGuestFree * current && current < d.StaticMaxPages)
            {
                target = Math.Min(d.StaticMaxPages, current + step);
            }
            if (target != d.TargetPages && step > 0) actions.Add(PolicyAction.MemSet(d.Name, target));
        }
        if (host.SharingScanRate > 0 || _ksmPages > options.KsmPagesMin)
        {
            int next = Math.Clamp(_ksmPages + (pressure ? options.KsmPagesBoost : -options.KsmPagesDecay), options.KsmPagesMin, options.KsmPagesMax);
            if (next != _ksmPages || Math.Abs(host.SharingScanRate - ScanRate(next)) > 0.5)
            {
                _ksmPages = next;
                actions.Add(new PolicyAction(PolicyActionKind.SharingScanRate, "", ScanRate(next)));
            }
        }
        return actions;
    }

    /// <summary>Pages per second for KSM's pages per scan and its sleep between scans.</summary>
    public double ScanRate(int pagesPerScan) => pagesPerScan * 1000.0 / options.KsmSleepMs;
}
