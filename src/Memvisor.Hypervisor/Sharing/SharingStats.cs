namespace Memvisor.Hypervisor.Sharing;

/// <summary>The sharing scanner's figures, named as Linux KSM's /sys/kernel/mm/ksm files.</summary>
public record struct SharingStats
{
    /// <summary>Shared frames in use (KSM pages_shared); the zero frame is not counted here.</summary>
    public long PagesShared;
    /// <summary>Mappings of shared frames beyond the first of each: the frames saved (KSM pages_sharing).</summary>
    public long PagesSharing;
    /// <summary>Unique pages the scanner keeps looking at as merge candidates (KSM pages_unshared).</summary>
    public long PagesUnshared;
    /// <summary>Gfns mapped to the one zero frame (KSM ksm_zero_pages).</summary>
    public long ZeroPages;
    public long PagesScanned;
    public long Merges;
    /// <summary>Copy-on-write breaks: a write to a shared page that gave the writer a private copy.</summary>
    public long CowBreaks;
    /// <summary>Copy-on-write breaks refused because the host had no frame to copy into.</summary>
    public long CowBreakFailures;
    public long FullScans;
    /// <summary>Times the scanner passed over a 2 MiB page because ESX keeps large pages whole above its High threshold (each pass over one counts).</summary>
    public long LargePageSkips;
    /// <summary>Simulated host CPU time the scanner used.</summary>
    public double ScanNs;

    /// <summary>Frames saved by sharing now: every mapping of a shared frame beyond its first, and every zero mapping less the zero frame.</summary>
    public long SavedPages(bool zeroFrameExists) => PagesSharing + Math.Max(0, ZeroPages - (zeroFrameExists ? 1 : 0));
}
