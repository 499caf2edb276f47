using Memvisor.Machine.Frames;
using Memvisor.Sim.Engine;

namespace Memvisor.Sim.Lab;

/// <summary>What one run of a comparison made of a scenario (a policy, or a hypervisor with its policy), the figures <c>memvisor compare</c> sets side by side.</summary>
public sealed record PolicyOutcome
{
    /// <summary>The run's name in the comparison and its directory: the policy, or with --hypervisors the hypervisor.</summary>
    public required string Name { get; init; }
    /// <summary>The host's hypervisor: xen, esx, kvm or hyperv.</summary>
    public required string Hypervisor { get; init; }
    public required string Policy { get; init; }
    /// <summary>Host memory in use (all but the free heap), at its peak and on average over the samples, in MiB.</summary>
    public double PeakHostUsedMib { get; init; }
    public double MeanHostUsedMib { get; init; }
    /// <summary>Guest domains that were created and ran to the end with no OOM kill, of those the scenario has.</summary>
    public int VmsFit { get; init; }
    public int Vms { get; init; }
    public long MajorFaults { get; init; }
    public long SwapIns { get; init; }
    /// <summary>Simulated time the guests' vCPUs waited on memory, summed over guests, in seconds.</summary>
    public double StallS { get; init; }
    /// <summary>Stall time as a share of the guests' run time.</summary>
    public double StallShare { get; init; }
    public double ReclaimMeanS { get; init; }
    public double ReclaimMaxS { get; init; }
    public int ReclaimUnmet { get; init; }
    public long OomKills { get; init; }
    public long IntegrityErrors { get; init; }
    public long PolicyActions { get; init; }
    /// <summary>Where the guests' accesses went on tiered hosts (host.nodes); null when the scenario has none.</summary>
    public TieringOutcome? Tiers { get; init; }
    /// <summary>What 2 MiB pages gained and cost (compare --large-pages only); null otherwise.</summary>
    public LargePagesOutcome? LargePages { get; init; }

    /// <param name="name">The run's name; null names it by its policy.</param>
    public static PolicyOutcome From(RunResult r, string? name = null)
    {
        var guests = r.Domains.Where(d => d.Spec is not null).ToList();
        var ran = guests.Where(d => d.Guest is not null).ToList();
        // Host memory in use: the host's, or with several hosts the sum over them (each later host's column carries its name).
        var columns = r.Timeseries.Columns.ToList();
        var hosts = (r.Summary.Hosts ?? [r.Summary.Host]).Select((h, i) => (h.Frames, Free: columns.IndexOf(i == 0 ? "host_free_pages" : $"{h.Name}.host_free_pages"))).ToList();
        var used = r.Timeseries.Rows.Select(row => (double)hosts.Sum(h => h.Frames - (row.Values[h.Free] ?? h.Frames))).ToList();
        double runSeconds = ran.Sum(d => ((d.DestroyedAtNs >= 0 ? d.DestroyedAtNs : r.Scenario.DurationNs) - Math.Max(0, d.CreatedAtNs)) / 1e9);
        double stall = ran.Sum(d => d.Guest!.Stats.StallNs) / 1e9;
        return new PolicyOutcome
        {
            Name = name ?? r.Policy?.Name ?? "none",
            Hypervisor = r.Scenario.Host.Personality.Name,
            Policy = r.Policy?.Name ?? "none",
            // One host: its exact low point of free memory; several: the most in use at a sample.
            PeakHostUsedMib = hosts.Count == 1 ? PageSize.ToMiB(r.Frames - r.FreePagesMin) : PageSize.ToMiB((long)(used.Count == 0 ? 0 : used.Max())),
            MeanHostUsedMib = used.Count == 0 ? 0 : Math.Round(used.Average() / 256, 1),
            Vms = guests.Count,
            VmsFit = ran.Count(d => d.State is not (DomainState.Failed or DomainState.Crashed) && d.Guest!.Stats.OomKills == 0),
            MajorFaults = ran.Sum(d => d.Guest!.Stats.MajorFaults),
            SwapIns = ran.Sum(d => d.Guest!.Stats.SwapIns),
            StallS = Math.Round(stall, 3),
            StallShare = runSeconds == 0 ? 0 : Math.Round(stall / runSeconds, 5),
            ReclaimMeanS = Math.Round(r.Reclaim.MeanSeconds, 2),
            ReclaimMaxS = Math.Round(r.Reclaim.MaxSeconds, 2),
            ReclaimUnmet = r.Reclaim.Unmet,
            OomKills = ran.Sum(d => d.Guest!.Stats.OomKills),
            IntegrityErrors = r.IntegrityErrors,
            PolicyActions = r.Policy?.Actions.Values.Sum() ?? 0,
            Tiers = TieringOutcome.From(r.Summary, ran.Sum(d => d.Guest!.Stats.Accesses)),
        };
    }
}

/// <summary>compare.json: the scenario, each run's outcome in the order they ran, and what was changed in the scenario for a run (compare --hypervisors).</summary>
public sealed record CompareSummary(string Scenario, ulong Seed, double DurationS, IReadOnlyList<PolicyOutcome> Policies, IReadOnlyList<string> Notes);
