namespace Memvisor.Sim.Lab;

/// <summary>What a run must meet to count as fitting: guest stall at most a share of run time, no OOM kill, every domain created, no integrity error.</summary>
public sealed record ServiceLevel(double MaxStallShare = 0.01)
{
    public bool IsMet(PolicyOutcome o, out string reason)
    {
        reason = o.VmsFit < o.Vms ? $"{o.Vms - o.VmsFit} of {o.Vms} domains did not fit (not created, crashed or OOM-killed)"
            : o.OomKills > 0 ? $"{o.OomKills} OOM kill(s)"
            : o.IntegrityErrors > 0 ? $"{o.IntegrityErrors} integrity error(s)"
            : o.StallShare > MaxStallShare ? $"stall {o.StallShare * 100:0.###}% of run time, above {MaxStallShare * 100:0.###}%"
            : "";
        return reason.Length == 0;
    }
}
