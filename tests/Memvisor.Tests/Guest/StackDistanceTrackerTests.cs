using Memvisor.Guest.Mrc;
using Memvisor.Machine.Randomness;

namespace Memvisor.Tests.Guest;

public class StackDistanceTrackerTests
{
    [Fact]
    public void A_loop_over_n_pages_reuses_each_at_distance_n_minus_1_across_compactions()
    {
        // 1000 pages looped 10 times: 10,000 references through a tree of 4096 times, so it compacts twice.
        var t = new StackDistanceTracker(physicalPages: 1000, bucketPages: 100, shift: 0);
        for (int pass = 0; pass < 10; pass++)
            for (ulong k = 0; k < 1000; k++) t.Record(k);
        Assert.Equal(1000, t.Cold);
        Assert.Equal(9000, t.Hits[9]);
        Assert.Equal(9000, t.Hits.Sum());
        // LRU with 1000 pages holds the loop; with 999 every reference misses.
        Assert.Equal(1000, t.MissesAt(1000));
        Assert.Equal(10_000, t.MissesAt(900));
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void Unsampled_distances_match_an_lru_stack(ulong seed)
    {
        var rng = new DeterministicRandom(seed);
        var t = new StackDistanceTracker(physicalPages: 600, bucketPages: 1, shift: 0);
        var stack = new List<ulong>();
        var expected = new double[601];
        double cold = 0;
        for (int i = 0; i < 20_000; i++)
        {
            // A skewed reference string over 700 pages: some beyond the tracked size.
            ulong key = rng.NextBelow(rng.NextBelow(2) == 0 ? 50UL : 700UL);
            t.Record(key);
            int depth = stack.IndexOf(key);
            if (depth < 0 || depth > 600) cold++;
            else expected[depth]++;
            if (depth >= 0) stack.RemoveAt(depth);
            stack.Insert(0, key);
        }
        Assert.Equal(cold, t.Cold);
        Assert.Equal(expected, t.Hits.ToArray());
    }

    [Fact]
    public void Sampling_one_page_in_sixteen_estimates_the_curve()
    {
        var t = new StackDistanceTracker(physicalPages: 20_000, bucketPages: 256, shift: 4);
        for (int pass = 0; pass < 4; pass++)
            for (ulong k = 0; k < 8192; k++) t.Record(k);
        Assert.Equal(32_768, t.References);
        // About 8192 cold references and 3 x 8192 reuses at a distance near 8192 pages.
        Assert.InRange(t.Cold, 8192 * 0.8, 8192 * 1.2);
        Assert.InRange(t.MissesAt(7000) - t.MissesAt(9500), 3 * 8192 * 0.8, 3 * 8192 * 1.2);
    }

    [Fact]
    public void Counts_halve_every_half_life()
    {
        var t = new StackDistanceTracker(physicalPages: 100, bucketPages: 10, shift: 0, halfLifeNs: 1000);
        for (int i = 0; i < 4; i++) t.Record(1);
        t.Advance(999);
        Assert.Equal(3, t.Hits[0]);
        t.Advance(1);
        Assert.Equal(1.5, t.Hits[0]);
        Assert.Equal(0.5, t.Cold);
    }
}
