namespace Memvisor.Hypervisor.Paging;

/// <summary>Settings of hypervisor swapping (xenpaging's command line; ESX's per-VM swap file).</summary>
public sealed record PagingOptions
{
    /// <summary>Whether the scenario set hypervisor paging up (host.paging): on Xen, only then does the host page guests out when it runs short (xenpaging runs only when started).</summary>
    public bool Configured { get; init; }

    /// <summary>The swap file's full path; null means a temporary file, removed at the end of the run.</summary>
    public string? SwapFile { get; init; }

    /// <summary>The swap file as the scenario names it, for messages (so a summary does not depend on where the scenario lies).</summary>
    public string? SwapFileName { get; init; }

    /// <summary>The most pages the swap file may hold. Default 4 GiB.</summary>
    public long SwapPages { get; init; } = 1L << 20;

    public EvictionPolicy Policy { get; init; } = EvictionPolicy.Clock;

    /// <summary>Recently paged-in gfns never evicted (xenpaging's DEFAULT_MRU_SIZE is 16384); capped at a quarter of a domain.</summary>
    public int MruSize { get; init; } = 16 * 1024;

    /// <summary>A swap device to use instead of opening <see cref="SwapFile"/>; tests give faulty ones. A scenario cannot set it.</summary>
    public ISwapDevice? Device { get; init; }

    /// <summary>Pages the pager evicts per second per domain while the domain is above its paging target. Default 25,600 (100 MiB/s).</summary>
    public double RatePagesPerSecond { get; init; } = 25_600;
}
