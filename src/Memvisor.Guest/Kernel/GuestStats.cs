namespace Memvisor.Guest.Kernel;

/// <summary>What a guest kernel counts about itself.</summary>
public sealed class GuestStats
{
    public long Accesses;
    public long Writes;
    public long PodFaults;
    public long FailedAccesses;
    /// <summary>Page allocations the kernel could not satisfy because it held no free page.</summary>
    public long AllocationFailures;
    public long PagesReleased;
    public long PagesReclaimed;
    public long TargetFailures;
}
