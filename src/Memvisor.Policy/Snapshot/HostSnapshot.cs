namespace Memvisor.Policy.Snapshot;

/// <summary>What a policy sees at a decision: the host's memory and each running guest domain's, in pages, at one instant.</summary>
public sealed record HostSnapshot
{
    /// <summary>Simulated time of the snapshot, in ns.</summary>
    public long TimeNs { get; init; }
    /// <summary>Machine memory in pages.</summary>
    public long TotalPages { get; init; }
    /// <summary>Free host pages (the heap, scrubbed or not).</summary>
    public long FreePages { get; init; }
    /// <summary>The sharing scanner's rate now, in pages per second (0 when off).</summary>
    public double SharingScanRate { get; init; }
    public IReadOnlyList<DomainSnapshot> Domains { get; init; } = [];
}
