namespace Memvisor.Hypervisor.Paging;

/// <summary>What hypervisor swapping did, over all domains.</summary>
public record struct PagingStats
{
    /// <summary>Pages evicted from domains (to the compression cache, to swap, or dropped as zero).</summary>
    public long PagedOut;
    /// <summary>Pages brought back on the guest's access.</summary>
    public long PagedIn;
    public long SwapWrites;
    public long SwapReads;
    /// <summary>Evicted pages that were all zeros: dropped and repopulated with a zeroed frame on the next touch.</summary>
    public long ZeroDropped;
    /// <summary>Pages evicted to make a frame for an allocation the host could not otherwise serve.</summary>
    public long EmergencyEvictions;
    /// <summary>Pages a Hyper-V domain restarting under Smart Paging gave up to its Smart Paging file to make room for others of its own.</summary>
    public long SmartPagingEvictions;
    /// <summary>Pages not swapped because the domain's own swap file was full (ESX: configured memory less the reservation).</summary>
    public long SwapFileFull;
    /// <summary>Pages the swap device refused to write (paging-out stops at the first).</summary>
    public long WriteErrors;
    /// <summary>Page-ins the swap device failed with an error (EIO, a short read).</summary>
    public long ReadErrors;
    /// <summary>Page-ins whose bytes did not match the checksum taken when the page was written.</summary>
    public long ChecksumErrors;
    /// <summary>Distinct pages the guests could not get back from swap.</summary>
    public long UnreadablePages;
    public double IoNs;
}
