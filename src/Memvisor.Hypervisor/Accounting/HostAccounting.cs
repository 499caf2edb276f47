namespace Memvisor.Hypervisor.Accounting;

/// <summary>
/// Where every machine frame is: free in the heap (scrubbed or not), owned by a domain, shared (dom_cow), holding
/// compressed pages, holding tmem pages, or used by the hypervisor itself. DESIGN.md invariant 5: these add up to
/// the machine's frames at every step.
/// </summary>
public readonly record struct HostAccounting(
    long TotalFrames, long FreeFrames, long ScrubPendingFrames, long OwnedFrames, long SharedFrames,
    long CompressionFrames, long TmemFrames, long HypervisorFrames)
{
    public bool AddsUp => FreeFrames + OwnedFrames + SharedFrames + CompressionFrames + TmemFrames + HypervisorFrames == TotalFrames;
}
