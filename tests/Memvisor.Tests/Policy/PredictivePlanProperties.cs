using FsCheck;
using FsCheck.Fluent;
using Memvisor.Policy.Predictive;
using Memvisor.Policy.Snapshot;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Policy;

/// <summary>
/// The predictive policy's plan and shrink take the best chunk from a heap instead of scanning every domain for every
/// chunk (so 1,000 domains cost milliseconds, not seconds); on random guests and curves they give exactly what the
/// scan gives, ties to the earlier domain included.
/// </summary>
public class PredictivePlanProperties
{
    private const long Chunk = 256;

    private static readonly Gen<DomainSnapshot> DomainGen =
        from min in Gen.Choose(1, 40)
        from span in Gen.Choose(0, 40)
        from tot in Gen.Choose(1, 90)
        from floor in Gen.Choose(0, 4)
        from buckets in Gen.Choose(0, 12)
        from hits in Gen.ArrayOf(Gen.Elements(0.0, 1.0, 2.0, 5.0, 5.0, 40.0, 300.0), buckets)
        from cold in Gen.Elements(0.0, 3.0)
        from width in Gen.Elements(64L, 256L, 1000L)
        select new DomainSnapshot
        {
            Name = "", DynamicMinPages = min * Chunk, DynamicMaxPages = (min + span) * Chunk, TotPages = tot * Chunk, TargetPages = tot * Chunk,
            FloorPages = floor * 200, Mrc = new MissCurve { BucketPages = width, Hits = hits, Cold = cold },
        };

    private static readonly Gen<(DomainSnapshot[] Domains, long Pages)> CaseGen =
        from n in Gen.Choose(1, 12)
        from domains in Gen.ArrayOf(DomainGen, n)
        from pages in Gen.Choose(0, 3000)
        select (domains.Select((d, i) => d with { Name = $"d{i}" }).ToArray(), (long)pages * Chunk / 4);

    [Fact]
    public void The_plan_is_the_one_a_scan_of_every_domain_for_every_chunk_makes()
    {
        Properties.Check(CaseGen, c => Assert.Equal(ReferencePlan(c.Domains, c.Pages * 4), PredictivePolicy.Plan(c.Domains, c.Pages * 4, Chunk)), maxTest: 500);
    }

    [Fact]
    public void Shrinking_takes_the_chunks_a_scan_of_every_domain_for_every_chunk_takes()
    {
        Properties.Check(CaseGen, c => Assert.Equal(ReferenceShrink(c.Domains, c.Pages), PredictivePolicy.Shrink(c.Domains, c.Pages, Chunk)), maxTest: 500);
    }

    // The straightforward algorithm: every chunk goes to the domain whose curve gains most, the first on a tie.
    private static Dictionary<string, long> ReferencePlan(IReadOnlyList<DomainSnapshot> domains, long budget)
    {
        var min = domains.ToDictionary(d => d.Name, d => Math.Max(d.DynamicMinPages, d.FloorPages + Chunk));
        var max = domains.ToDictionary(d => d.Name, d => Math.Max(min[d.Name], d.DynamicMaxPages));
        var alloc = new Dictionary<string, long>(min);
        long rest = budget - alloc.Values.Sum();
        while (rest >= Chunk)
        {
            DomainSnapshot? best = null;
            double bestGain = 0;
            foreach (var d in domains)
            {
                long a = alloc[d.Name];
                if (a + Chunk > max[d.Name]) continue;
                double gain = Misses(d.Mrc!, a - d.FloorPages) - Misses(d.Mrc!, a + Chunk - d.FloorPages);
                if (gain > bestGain) (bestGain, best) = (gain, d);
            }
            if (best is null) break;
            alloc[best.Name] += Chunk;
            rest -= Chunk;
        }
        long room = domains.Sum(d => max[d.Name] - alloc[d.Name]);
        if (rest > 0 && room > 0)
        {
            double f = Math.Min(1, (double)rest / room);
            foreach (var d in domains) alloc[d.Name] += (long)Math.Floor(f * (max[d.Name] - alloc[d.Name]));
        }
        return alloc;
    }

    // The curve at a size as the policy reads it: cold plus the hits of every bucket from the size on, the bucket it falls in in part.
    private static double Misses(MissCurve c, long pages)
    {
        var suffix = new double[c.Hits.Count + 1];
        suffix[c.Hits.Count] = c.Cold;
        for (int b = c.Hits.Count - 1; b >= 0; b--) suffix[b] = suffix[b + 1] + c.Hits[b];
        if (pages <= 0) return suffix[0];
        long k = pages / c.BucketPages;
        if (k >= c.Hits.Count) return suffix[^1];
        return suffix[k] - (double)(pages - k * c.BucketPages) / c.BucketPages * c.Hits[(int)k];
    }

    private static Dictionary<string, long> ReferenceShrink(IReadOnlyList<DomainSnapshot> domains, long shortfall)
    {
        var size = domains.ToDictionary(d => d.Name, d => Math.Min(d.TargetPages, d.TotPages));
        var changed = new Dictionary<string, long>();
        while (shortfall > 0)
        {
            DomainSnapshot? cheapest = null;
            double lowest = double.MaxValue;
            foreach (var d in domains)
            {
                long a = size[d.Name];
                if (a - Chunk < Math.Max(d.DynamicMinPages, d.FloorPages + Chunk)) continue;
                double loss = PredictivePolicy.Gain(d, a - Chunk, Chunk);
                if (loss < lowest) (lowest, cheapest) = (loss, d);
            }
            if (cheapest is null) break;
            size[cheapest.Name] -= Chunk;
            changed[cheapest.Name] = size[cheapest.Name];
            shortfall -= Chunk;
        }
        return changed;
    }
}
