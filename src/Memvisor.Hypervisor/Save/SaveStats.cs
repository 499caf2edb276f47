namespace Memvisor.Hypervisor.Save;

/// <summary>What one save image holds: its page records by kind, and its size in bytes.</summary>
public record struct SaveStats
{
    /// <summary>Gfns with memory behind them that the image records (every kind below but populate-on-demand).</summary>
    public long Pages;
    /// <summary>Pages of zeros: a record without bytes.</summary>
    public long ZeroPages;
    /// <summary>Synthetic pages: their 8-byte content handle, from which Memvisor's generator makes the same 4 KiB.</summary>
    public long HandlePages;
    /// <summary>Pages of real bytes: 4 KiB each.</summary>
    public long BytePages;
    /// <summary>Pages with the same frame as an earlier page of the image (a shared page): a reference to that gfn.</summary>
    public long DuplicatePages;
    /// <summary>Populate-on-demand entries (a first-touch guest's untouched memory): a record without bytes.</summary>
    public long PodEntries;
    /// <summary>Paged-out or compressed pages read back from the host's swap or cache to be written (they stay there).</summary>
    public long PagesReadBack;
    /// <summary>Pages of the client's persistent tmem pools (frontswap) the image carries after its memory.</summary>
    public long TmemPages;
    /// <summary>The image's length in bytes.</summary>
    public long FileBytes;
}
