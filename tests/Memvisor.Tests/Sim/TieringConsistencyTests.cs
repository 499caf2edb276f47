using Memvisor.Tests.Support;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

/// <summary>
/// Issue 22's self-consistency of transparent tiering: a Zipf guest whose active set fits in DRAM ends with the slow
/// tier serving almost none of its accesses, and with less DRAM than its active set the slow tier serves about what
/// the guest's own miss-ratio curve says a memory of the DRAM it holds would miss.
/// </summary>
public class TieringConsistencyTests
{
    private static string Scenario(string dram, string workingSet, bool tiering = true, bool filler = false) => $$"""
        name: c
        seed: 11
        duration: 30s
        host:
          dom0: { memory: 256MiB }
          nodes:
            - { kind: dram, memory: {{dram}} }
            - { kind: cxl, memory: 2GiB }
        {{(tiering ? "  tiering: { scan_interval: 1s, cold_after: 3, moves_per_scan: 8192 }" : "")}}
        domains:
        {{(filler ? "  - { name: filler, memory: 640MiB, workload: { kind: steady, working_set: 16MiB, rate: 100/s } }" : "")}}
          - name: app
            memory: 1GiB
            workload: { kind: zipf, working_set: {{workingSet}}, rate: 200000/s, write_fraction: 0.3 }
        """;

    private static RunResult Run(string yaml) => new Simulation(ScenarioLoader.Parse(yaml, "c.yaml"), keepSnapshots: true).Run();

    // The CXL node's share of the accesses of the run's last 10 s (the tiering scanner's moves have settled by then).
    private static double SlowShareAtEnd(RunResult r)
    {
        long slow = RunFigures.NodeAccessesOverLast(r, 1, 10), all = slow + RunFigures.NodeAccessesOverLast(r, 0, 10);
        Assert.True(all > 1_000_000, $"{all} accesses in the last 10 s");
        return (double)slow / all;
    }

    // What the app's miss-ratio curve (the last snapshot's) says a memory of the DRAM pages it holds at the end misses.
    private static (double Predicted, long DramPages) Predicted(RunResult r)
    {
        long dom0 = r.Summary.Domains.Single(d => d.Name == "Domain-0").TotPages;
        long dramPages = r.Summary.Host.Nodes![0].DomainPagesEnd - dom0;
        var mrc = r.Snapshots[^1].Domains.Single(d => d.Name == "app").Mrc!;
        double all = mrc.Cold + mrc.Hits.Sum();
        double misses = mrc.Cold + mrc.Hits.Skip((int)(dramPages / mrc.BucketPages)).Sum();
        return (misses / all, dramPages);
    }

    // The least any placement of the app's working set could leave on CXL with dramPages of it in DRAM: the Zipf mass
    // (s = 0.99, the workload's default) beyond the dramPages most popular pages.
    private static double Oracle(long workingSetPages, long dramPages)
    {
        double all = 0, kept = 0;
        for (long rank = 1; rank <= workingSetPages; rank++)
        {
            double p = Math.Pow(rank, -0.99);
            all += p;
            if (rank <= dramPages) kept += p;
        }
        return 1 - kept / all;
    }

    [Fact]
    public void A_zipf_guest_whose_active_set_fits_in_dram_is_served_from_dram_once_its_hot_pages_are_promoted()
    {
        // An idle guest built first holds most of the 1 GiB of DRAM, so the app's pages land on CXL; its 256 MiB working
        // set fits in the DRAM the idle guest's cold pages give up.
        var tiered = Run(Scenario("1GiB", "256MiB", filler: true));
        var placed = Run(Scenario("1GiB", "256MiB", tiering: false, filler: true));
        double withTiering = SlowShareAtEnd(tiered), without = SlowShareAtEnd(placed);
        Assert.True(without > 0.05, $"without tiering CXL serves {without:P1}: the working set must start partly on CXL");
        // What stays on CXL is the tail the scanner cannot call hot (pages touched less than once a scan).
        Assert.True(withTiering < 0.03 && withTiering < without / 5, $"CXL serves {withTiering:P2} with tiering, {without:P1} without");
        Assert.True(tiered.Summary.Host.Tiering!.Promoted > 0);
        // And the app waits less for memory, the page moves' copies and shootdowns included.
        double Stall(RunResult r) => r.Summary.Domains.Single(d => d.Name == "app").Guest!.StallMs;
        Assert.True(Stall(tiered) < Stall(placed), $"app stall {Stall(tiered)} ms with tiering, {Stall(placed)} ms without");
    }

    [Fact]
    public void With_less_dram_than_the_active_set_the_slow_tier_serves_what_the_miss_ratio_curve_predicts()
    {
        var big = Run(Scenario("1GiB", "960MiB"));
        var small = Run(Scenario("768MiB", "960MiB"));
        var (bigPredicted, bigPages) = Predicted(big);
        var (smallPredicted, smallPages) = Predicted(small);
        double bigShare = SlowShareAtEnd(big), smallShare = SlowShareAtEnd(small);
        long workingSet = 960L * 256;
        double bigBest = Oracle(workingSet, bigPages), smallBest = Oracle(workingSet, smallPages);
        string figures = $"1 GiB: {bigPages} DRAM pages, CXL {bigShare:P1}, curve {bigPredicted:P1}, best {bigBest:P1}; " +
            $"768 MiB: {smallPages} pages, CXL {smallShare:P1}, curve {smallPredicted:P1}, best {smallBest:P1}";
        Assert.True(smallPages < bigPages && smallPredicted > bigPredicted, figures);
        // Less DRAM, more accesses on the slow tier; each share lies between the least any placement could leave there
        // and what an LRU memory of that many pages misses (the curve): the scanner's hot pages are the frequent ones,
        // which for a Zipf workload does better than recency.
        Assert.True(smallShare > bigShare, figures);
        foreach (var (share, predicted, best) in new[] { (bigShare, bigPredicted, bigBest), (smallShare, smallPredicted, smallBest) })
            Assert.True(share >= best && share <= 1.1 * predicted, figures);
    }
}
