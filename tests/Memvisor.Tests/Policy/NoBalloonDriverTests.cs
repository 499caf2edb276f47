using Memvisor.Policy;
using Memvisor.Policy.Snapshot;
using Memvisor.Sim.Policies;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Policy;

/// <summary>A guest with no balloon driver (no control/feature-balloon) is never asked to balloon, as squeezed treats it: no policy issues it a mem-set, under pressure or not.</summary>
public class NoBalloonDriverTests
{
    private static DomainSnapshot Vm(string name, bool balloon, double active) => new()
    {
        Name = name, TotPages = 60_000, TargetPages = 60_000, CurrentPages = 60_000, MemoryPages = 60_000, StaticMaxPages = 80_000,
        DynamicMinPages = 20_000, DynamicMaxPages = 80_000, Shares = 6000, LimitPages = 80_000, MinimumPages = 20_000, MaximumPages = 80_000,
        BufferPercent = 20, Weight = 5000, FeatureBalloon = balloon, ActivePages = (long)(60_000 * active), CommittedAsPages = 10_000, FloorPages = 2000,
        MemAvailablePages = 40_000, MemFreePages = 40_000,
        Mrc = new MissCurve { BucketPages = 1024, Hits = new double[64], Cold = 0, WindowNs = 5_000_000_000 },
    };

    [Theory]
    [InlineData("squeezed")]
    [InlineData("mom")]
    [InlineData("esx")]
    [InlineData("hyperv")]
    [InlineData("predictive")]
    public void A_guest_without_a_balloon_driver_is_never_asked_to_balloon(string policy)
    {
        var p = PolicyFactory.Create(new PolicySpec { Name = policy });
        foreach (long free in new long[] { 60_000, 2_000 })
        {
            var host = new HostSnapshot { TotalPages = 200_000, FreePages = free, Domains = [Vm("driver", true, 0.1), Vm("none", false, 0.1)] };
            var actions = p.Decide(host);
            Assert.DoesNotContain(actions, a => a.Domain == "none" && a.Kind is PolicyActionKind.MemSet or PolicyActionKind.HotAdd);
        }
    }
}
