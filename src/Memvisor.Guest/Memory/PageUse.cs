namespace Memvisor.Guest.Memory;

/// <summary>What a guest page is used for, as Linux's page flags and mappings tell it (struct page).</summary>
public enum PageUse : byte
{
    /// <summary>Not in the guest's memory map: never populated, or given back to the hypervisor.</summary>
    Unheld,
    Free,
    /// <summary>Kernel text and other memory the kernel keeps for itself.</summary>
    Kernel,
    PageTable,
    /// <summary>Anonymous memory of one process (heap, stack).</summary>
    Anon,
    /// <summary>A page of the page cache: a file's page, mapped or not.</summary>
    File,
    /// <summary>
    /// Given back to the hypervisor and kept by a backend driver to map other domains' granted pages into (Linux's
    /// alloc_xenballooned_pages): out of the memory map, and out of the balloon's reach.
    /// </summary>
    Foreign,
}
