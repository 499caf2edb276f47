using Memvisor.Machine.Frames;
using Memvisor.Sim.Summary;

namespace Memvisor.Sim.Lab;

/// <summary>
/// What 2 MiB pages did in one run, summed over its guest domains (not dom0): the figures compare --large-pages sets side by
/// side. The gain is in the TLB and the walks; the price is in splits and in what sharing could not merge.
/// </summary>
public sealed record LargePagesOutcome
{
    /// <summary>The guests' accesses (summary.json's domains[].guest.accesses, summed).</summary>
    public long Accesses { get; init; }
    /// <summary>The guests' TLB misses, and their share of the translations.</summary>
    public long TlbMisses { get; init; }
    public double TlbMissShare { get; init; }
    /// <summary>Memory references of the walks those misses took, per miss on average.</summary>
    public long WalkRefs { get; init; }
    public double RefsPerWalk { get; init; }
    /// <summary>Guest huge pages mapped at the end, those split (by swap-out and by page moves) and faults that fell back to 4 KiB.</summary>
    public long GuestHugePagesEnd { get; init; }
    public long GuestSplitsReclaim { get; init; }
    public long GuestSplitsMigration { get; init; }
    public long GuestFallbacks { get; init; }
    /// <summary>2 MiB p2m pages mapped at the end and those broken, by cause, with the hypervisor's time splitting them.</summary>
    public long HostLargePagesEnd { get; init; }
    public long HostBroken { get; init; }
    public long HostBrokenSharing { get; init; }
    public long HostBrokenPaging { get; init; }
    public long HostBrokenReleased { get; init; }
    public long HostBrokenMoved { get; init; }
    public double HostSplitMs { get; init; }
    /// <summary>Memory page sharing saved at the end, in MiB (mechanisms.sharing.saved_pages, every host).</summary>
    public double SharedSavedMib { get; init; }

    public static LargePagesOutcome From(RunSummary s)
    {
        // The guest domains: dom0's memory is the host's, built before any of this.
        var guests = s.Domains.Where(d => d.Guest is not null && d.Domid != 0).ToList();
        long hits = guests.Sum(d => d.Mmu?.TlbHits ?? 0), misses = guests.Sum(d => d.Mmu?.TlbMisses ?? 0);
        long walks = guests.Sum(d => d.Mmu?.Walks ?? 0), refs = guests.Sum(d => d.Mmu?.WalkRefsTotal ?? 0);
        var thp = guests.Select(d => d.Guest!.Thp).OfType<ThpSummary>().ToList();
        var large = guests.Select(d => d.LargePages).OfType<LargePagesSummary>().ToList();
        return new LargePagesOutcome
        {
            Accesses = guests.Sum(d => d.Guest!.Accesses),
            TlbMisses = misses,
            TlbMissShare = hits + misses == 0 ? 0 : Math.Round((double)misses / (hits + misses), 5),
            WalkRefs = refs,
            RefsPerWalk = walks == 0 ? 0 : Math.Round((double)refs / walks, 3),
            GuestHugePagesEnd = thp.Sum(t => t.HugePagesEnd),
            GuestSplitsReclaim = thp.Sum(t => t.Split.Reclaim),
            GuestSplitsMigration = thp.Sum(t => t.Split.Migration),
            GuestFallbacks = thp.Sum(t => t.FaultFallback),
            HostLargePagesEnd = large.Sum(l => l.Mapped),
            HostBroken = large.Sum(l => l.Broken),
            HostBrokenSharing = large.Sum(l => l.BrokenBy?.Sharing ?? 0),
            HostBrokenPaging = large.Sum(l => l.BrokenBy?.Paging ?? 0),
            HostBrokenReleased = large.Sum(l => l.BrokenBy?.Released ?? 0),
            HostBrokenMoved = large.Sum(l => l.BrokenBy?.Moved ?? 0),
            HostSplitMs = Math.Round(large.Sum(l => l.SplitMs ?? 0), 3),
            SharedSavedMib = Math.Round(s.Mechanisms.Sharing.SavedPages * (double)PageSize.Bytes / (1 << 20), 1),
        };
    }
}
