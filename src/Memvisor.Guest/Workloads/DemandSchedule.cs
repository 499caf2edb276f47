namespace Memvisor.Guest.Workloads;

/// <summary>One sample of a recorded guest's demand: at a time, the memory its processes used (pages).</summary>
public sealed record DemandSample(long AtNs, long UsedPages);

/// <summary>
/// A recorded guest's memory in use over time (memvisor record), as a "demand" workload replays it: straight lines
/// between samples, the first sample's value before it and the last one's after it, or the whole record again and
/// again when it loops (each pass one sampling interval longer than the last sample's time).
/// </summary>
public sealed class DemandSchedule(IReadOnlyList<DemandSample> samples, bool loop)
{
    // A loop lasts to the last sample plus one sampling interval (the last value holds as long as the others did).
    private readonly long _spanNs = samples.Count == 0 ? 0 : samples[^1].AtNs + (samples.Count > 1 ? samples[^1].AtNs - samples[^2].AtNs : 0);

    public IReadOnlyList<DemandSample> Samples => samples;

    /// <summary>The pages in use at <paramref name="tNs"/>.</summary>
    public long PagesAt(long tNs)
    {
        if (samples.Count == 0) return 0;
        if (loop && _spanNs > 0) tNs %= _spanNs;
        if (tNs <= samples[0].AtNs) return samples[0].UsedPages;
        if (tNs >= samples[^1].AtNs) return samples[^1].UsedPages;
        int lo = 0, hi = samples.Count - 1;
        while (hi - lo > 1)
        {
            int mid = (lo + hi) / 2;
            if (samples[mid].AtNs <= tNs) lo = mid;
            else hi = mid;
        }
        var (a, b) = (samples[lo], samples[hi]);
        return a.UsedPages + (long)((double)(b.UsedPages - a.UsedPages) * (tNs - a.AtNs) / (b.AtNs - a.AtNs));
    }
}
