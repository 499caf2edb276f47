namespace Memvisor.Guest.Kernel;

/// <summary>What a guest kernel counts about itself (Linux's /proc/vmstat, plus the model's own counters).</summary>
public record struct GuestStats
{
    /// <summary>Workload accesses made (loads, stores, instruction fetches).</summary>
    public long Accesses;
    public long Writes;
    public long PodFaults;
    /// <summary>Accesses that found the page paged out or compressed by the hypervisor and waited for it.</summary>
    public long HypervisorPageIns;
    /// <summary>Writes to a page shared by content, which the hypervisor copied first.</summary>
    public long CowBreaks;
    /// <summary>Accesses the guest could not complete: refused by the hypervisor, outside a mapping, or out of memory.</summary>
    public long FailedAccesses;
    /// <summary>Top-level tables the hypervisor would not pin or load (a PV validation failure); 0 in a healthy guest.</summary>
    public long MmuRefusals;
    /// <summary>Page allocations the kernel could not satisfy even after reclaim.</summary>
    public long AllocationFailures;
    /// <summary>pgfault less pgmajfault: faults served without I/O.</summary>
    public long MinorFaults;
    /// <summary>pgmajfault: faults that waited for swap or file I/O.</summary>
    public long MajorFaults;
    public long SwapIns;
    public long SwapOuts;
    public long OomKills;
    /// <summary>Pages reclaim looked at (pgscan).</summary>
    public long PagesScanned;
    /// <summary>Pages reclaim freed (pgsteal), by kswapd and by direct reclaim.</summary>
    public long PagesStolen;
    public long DirectReclaims;
    /// <summary>File pages read from disk into the page cache.</summary>
    public long FileReads;
    /// <summary>Dirty file pages written back.</summary>
    public long WritebackPages;
    /// <summary>Simulated time the workload spent waiting on faults and direct reclaim.</summary>
    public double StallNs;
    /// <summary>Pages the balloon driver gave back to the host, and took back from it.</summary>
    public long PagesGivenBack;
    public long PagesTakenBack;
    public long TargetFailures;
    /// <summary>Times self-ballooning moved the balloon's target.</summary>
    public long SelfBalloonAdjustments;
    public long HotplugPagesAdded;
    public long HotplugPagesRemoved;
    /// <summary>Plug or unplug requests the guest could not meet this step (the host had no memory, or no block could go offline).</summary>
    public long HotplugFailures;
    /// <summary>Blocks that could not be offlined (unmovable pages, no free page to migrate to).</summary>
    public long HotplugOfflineFailures;
    /// <summary>Anonymous pages moved out of a block being offlined.</summary>
    public long PagesMigrated;
}
