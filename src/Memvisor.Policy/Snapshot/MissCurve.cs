namespace Memvisor.Policy.Snapshot;

/// <summary>
/// A guest's LRU stack-distance histogram (the MEB work): how many of its recent accesses reused a page last touched
/// at a reuse distance in each bucket of <see cref="BucketPages"/> pages, plus the first touches. A guest with m
/// pages for its workload misses on every access whose distance is at least m, so the curve predicts its faults at
/// any size.
/// </summary>
public sealed record MissCurve
{
    /// <summary>Width of a bucket, in pages.</summary>
    public long BucketPages { get; init; } = 256;
    /// <summary>Accesses (scaled to all accesses, recent ones weighted more) by reuse distance bucket.</summary>
    public IReadOnlyList<double> Hits { get; init; } = [];
    /// <summary>Accesses with no earlier touch in the window (and any beyond the last bucket).</summary>
    public double Cold { get; init; }
    /// <summary>Simulated time the histogram covers (its decay horizon), in ns.</summary>
    public long WindowNs { get; init; }

    /// <summary>Accesses that would miss with <paramref name="pages"/> pages for the workload.</summary>
    public double MissesAt(long pages)
    {
        double misses = Cold;
        if (pages <= 0) return misses + Hits.Sum();
        long full = pages / BucketPages;
        for (long b = full; b < Hits.Count; b++)
        {
            // The bucket the size falls in counts in part: distances spread evenly across it.
            double part = b == full ? 1 - (double)(pages - full * BucketPages) / BucketPages : 1;
            misses += Hits[(int)b] * part;
        }
        return misses;
    }
}
