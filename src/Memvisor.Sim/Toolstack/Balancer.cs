using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Sim.Toolstack;

/// <summary>
/// A host-level policy that moves guests between hosts for memory, as VMware DRS's load balancing does (Gulati et
/// al., "VMware Distributed Resource Management: Design, Implementation, and Lessons Learned", VMware Technical
/// Journal 1(1), 2012; vSphere Resource Management, "Migration Threshold"): every interval the cluster's imbalance is
/// the standard deviation of the hosts' memory loads (frames in use over frames); while it is above the target, the
/// single migration that lowers it most is started, greedily, one at a time. A move must lower the deviation by at
/// least half the target (DRS's minimum goodness), so moves that gain little, and would swing a guest to and fro
/// between equal hosts, are left out. Memory only; no cost-benefit step.
/// </summary>
internal sealed class Balancer(BalanceSpec spec)
{
    private long _nextNs = spec.IntervalNs;

    /// <summary>Times the balancer looked at the hosts, and the migrations it started.</summary>
    public long Invocations { get; private set; }
    public long Moves { get; private set; }
    /// <summary>The hosts' load standard deviation the last time it looked.</summary>
    public double LastStdDev { get; private set; }

    public BalanceSpec Spec => spec;

    /// <param name="busy">Whether a move is under way that the balancer must wait for (an evacuation, a migration waiting for memory).</param>
    public void Step(long nowNs, IReadOnlyList<HostRuntime> hosts, IReadOnlyList<DomainRecord> records, bool busy)
    {
        if (nowNs < _nextNs) return;
        _nextNs = nowNs + spec.IntervalNs;
        Invocations++;
        // Hosts in maintenance mode are out of the cluster's balance, as DRS leaves them.
        var member = hosts.Select(h => !h.InMaintenance).ToArray();
        var loads = hosts.Select(Load).ToArray();
        LastStdDev = StdDev(loads, member);
        // One move at a time: while any migration runs, its two copies would skew the loads.
        if (LastStdDev <= spec.TargetStdDev || busy || hosts.Any(h => h.Toolstack.MigrationsRunning > 0)) return;
        (DomainRecord R, HostRuntime From, HostRuntime To, double StdDev)? best = null;
        double minGain = Math.Max(spec.TargetStdDev / 2, 1e-9);
        foreach (var r in records)
        {
            if (r.Spec is not { } s || r.State != DomainState.Running || r.Domain is not { } d || d.MigratingOut) continue;
            var from = hosts[r.HostIndex];
            if (from.InMaintenance) continue;
            foreach (var to in hosts)
            {
                if (to == from || to.InMaintenance || ScenarioChecks.MoveProblem(s, from.Spec, to.Spec) is not null) continue;
                long needed = from.Hv.MigrationPagesNeeded(d.DomId, to.Hv);
                if (needed < 0 || needed > to.Machine.FreeFrames) continue;
                var after = (double[])loads.Clone();
                after[from.Index] -= (double)d.TotPages / from.Machine.TotalFrames;
                after[to.Index] += (double)needed / to.Machine.TotalFrames;
                double sd = StdDev(after, member);
                if (LastStdDev - sd >= minGain && (best is null || sd < best.Value.StdDev)) best = (r, from, to, sd);
            }
        }
        if (best is not { } move) return;
        move.From.Hv.Events.Add("balance", move.R.Name, $"Host load standard deviation {LastStdDev:0.###} is above the target {spec.TargetStdDev:0.###}: " +
            $"moving {move.R.Name} from '{move.From.Name}' to '{move.To.Name}' brings it to {move.StdDev:0.###}.");
        move.To.Creates.StartMigration(move.R, nowNs, move.From.Toolstack);
        // A move counts once it runs or waits for the destination's memory; one the hypervisor refused does not.
        if (move.From.Toolstack.IsMigrating(move.R) || move.To.Creates.IsWaiting(move.R)) Moves++;
    }

    private static double Load(HostRuntime h) => (double)(h.Machine.TotalFrames - h.Machine.FreeFrames) / h.Machine.TotalFrames;

    // Over the hosts in the cluster's balance (those not in maintenance).
    private static double StdDev(double[] xs, bool[] member)
    {
        var ys = xs.Where((_, i) => member[i]).ToArray();
        if (ys.Length < 2) return 0;
        double mean = ys.Average();
        return Math.Sqrt(ys.Sum(y => (y - mean) * (y - mean)) / ys.Length);
    }
}
