namespace Memvisor.Guest.Thp;

/// <summary>
/// What the guest's transparent huge pages did, under /proc/vmstat's names: 2 MiB pages a fault mapped
/// (thp_fault_alloc) or could not (thp_fault_fallback), and huge pages split into 512 pages, by what needed a 4 KiB
/// page of them (thp_split_pmd, by cause), with the guest's time spent splitting.
/// </summary>
public record struct ThpStats
{
    public long FaultAlloc;
    public long FaultFallback;
    /// <summary>Split because reclaim swapped out one of their pages.</summary>
    public long SplitReclaim;
    /// <summary>Split because one of their pages moved to another gfn (demotion, promotion, hot-unplug).</summary>
    public long SplitMigration;
    /// <summary>Huge pages freed whole (munmap, exit).</summary>
    public long Zapped;
    public double SplitNs;

    public readonly long Splits => SplitReclaim + SplitMigration;
}

/// <summary>Why a huge page had to be split.</summary>
public enum ThpSplitCause : byte
{
    Reclaim,
    Migration,
}
