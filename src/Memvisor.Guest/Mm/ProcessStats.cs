namespace Memvisor.Guest.Mm;

/// <summary>What a process did and holds: its accesses by kind (lackey's I, L, S, M), faults and resident pages.</summary>
public record struct ProcessStats
{
    public long Instructions;
    public long Loads;
    public long Stores;
    public long Modifies;
    /// <summary>Distinct 4 KiB pages first touched (each demand-zero fault on a page the process never had).</summary>
    public long DistinctPages;
    public long MinorFaults;
    public long MajorFaults;
    /// <summary>Accesses refused: outside every mapping, or a write to a read-only one.</summary>
    public long SegmentationFaults;
    public long RssAnon;
    public long RssFile;
    public long SwapEntries;
    public long PageTablePages;

    public long Accesses => Instructions + Loads + Stores + Modifies;
    /// <summary>Linux's oom_badness: resident pages, swap entries and page tables.</summary>
    public long Badness => RssAnon + RssFile + SwapEntries + PageTablePages;
}
