using Memvisor.Machine.Frames;
using Memvisor.Sim.Summary;

namespace Memvisor.Sim.Lab;

/// <summary>
/// Where a run's guest accesses went on its tiered hosts (hosts with memory nodes), summed over them: the figures
/// compare --tiering sets side by side. Slowdown and accesses lost are against the all-dram run of the same comparison, when it has one.
/// </summary>
public sealed record TieringOutcome
{
    /// <summary>The guests' accesses (summary.json's domains[].guest.accesses, summed): the work they got done.</summary>
    public long Accesses { get; init; }
    /// <summary>The share of the accesses the tiered hosts' nodes served (guests', dom0's and page-table walks') that nodes other than DRAM served.</summary>
    public double SlowAccessShare { get; init; }
    /// <summary>Time the accesses cost beyond the guests' local DRAM (slower nodes and remote DRAM), in seconds.</summary>
    public double ExtraAccessS { get; init; }
    /// <summary>Guest pages on nodes that are not DRAM at the end, in MiB: DRAM the host did without.</summary>
    public double SlowPagesEndMib { get; init; }
    /// <summary>Writes served by nodes that are not DRAM (NVM wears with them; HMvisor's aim is fewer).</summary>
    public long SlowWrites { get; init; }
    /// <summary>Pages moved to a faster node and to a slower one (tiering, promote-on-touch and migratepages), and the vCPU TLB shootdowns sent for them: one per scanned domain at each tiering scan (its accessed bits cleared, its moves covered) and one per move outside a scan.</summary>
    public long Promoted { get; init; }
    public long Demoted { get; init; }
    public long Shootdowns { get; init; }
    /// <summary>
    /// The share of the guests' run time they waited on memory beyond what they waited in the all-dram run (stall share
    /// minus all-dram's): how much slower the same accesses went; null without an all-dram run.
    /// </summary>
    public double? Slowdown { get; init; }
    /// <summary>1 - this run's accesses / the all-dram run's: accesses the guests did not get to in the same simulated time, when waiting took all of it; null without an all-dram run.</summary>
    public double? AccessesLost { get; init; }

    /// <summary>The figures of the summary's tiered hosts; null when the run had none.</summary>
    public static TieringOutcome? From(RunSummary s, long guestAccesses)
    {
        var hosts = (s.Hosts ?? [s.Host]).Where(h => h.Tiers is not null).ToList();
        if (hosts.Count == 0) return null;
        var tiers = hosts.SelectMany(h => h.Tiers!).ToList();
        var slow = tiers.Where(t => t.Kind != "dram").ToList();
        long accesses = tiers.Sum(t => t.Reads + t.Writes);
        return new TieringOutcome
        {
            Accesses = guestAccesses,
            SlowAccessShare = accesses == 0 ? 0 : Math.Round((double)slow.Sum(t => t.Reads + t.Writes) / accesses, 5),
            ExtraAccessS = Math.Round(tiers.Sum(t => t.ExtraAccessMs) / 1000, 3),
            SlowPagesEndMib = Math.Round(slow.Sum(t => t.DomainPagesEnd) * (double)PageSize.Bytes / (1 << 20), 1),
            SlowWrites = slow.Sum(t => t.Writes),
            Promoted = hosts.Sum(h => h.PageMigrations?.Promoted ?? 0),
            Demoted = hosts.Sum(h => h.PageMigrations?.Demoted ?? 0),
            Shootdowns = hosts.Sum(h => h.PageMigrations?.Shootdowns ?? 0),
        };
    }

    /// <summary>Each outcome's slowdown against the run named <see cref="TieringLab.AllDram"/>, when there is one with accesses.</summary>
    public static IReadOnlyList<PolicyOutcome> AgainstAllDram(IReadOnlyList<PolicyOutcome> outcomes)
    {
        if (outcomes.FirstOrDefault(o => o.Name == TieringLab.AllDram) is not { Tiers.Accesses: > 0 } baseline) return outcomes;
        return [.. outcomes.Select(o => o.Tiers is null ? o : o with
        {
            Tiers = o.Tiers with
            {
                Slowdown = Math.Round(o.StallShare - baseline.StallShare, 5),
                AccessesLost = Math.Round(1 - (double)o.Tiers.Accesses / baseline.Tiers!.Accesses, 5),
            },
        })];
    }
}
