using Memvisor.Policy;
using Memvisor.Policy.Mom;
using Memvisor.Policy.Snapshot;

namespace Memvisor.Tests.Policy;

public class MomTests
{
    private static DomainSnapshot Guest(string name, long current, long available, long staticMax = 20_000) => new()
    {
        Name = name, TotPages = current, TargetPages = current, CurrentPages = current, MemAvailablePages = available,
        StaticMaxPages = staticMax, FeatureBalloon = true,
    };

    private static HostSnapshot Host(double freeShare, double scanRate, params DomainSnapshot[] guests) =>
        new() { TotalPages = 100_000, FreePages = (long)(freeShare * 100_000), SharingScanRate = scanRate, Domains = guests };

    private static long Target(IReadOnlyList<PolicyAction> actions, string name) =>
        (long)actions.Single(a => a.Kind == PolicyActionKind.MemSet && a.Domain == name).Value;

    [Fact]
    public void Under_pressure_guests_shrink_toward_their_minimum_free_share_by_bounded_steps()
    {
        var mom = new MomPolicy(new MomOptions(), 1);
        var a = mom.Decide(Host(0.10, 0, Guest("roomy", 10_000, 5_000), Guest("tight", 10_000, 2_200), Guest("at-min", 10_000, 1_900)));
        Assert.Equal(9_500, Target(a, "roomy"));      // 5% of 10000 at most
        Assert.Equal(9_800, Target(a, "tight"));      // only the 200 above 20% available
        Assert.DoesNotContain(a, x => x.Domain == "at-min");

        var critical = new MomPolicy(new MomOptions(), 1).Decide(Host(0.02, 0, Guest("roomy", 10_000, 5_000)));
        Assert.Equal(9_000, Target(critical, "roomy"));   // the step doubles when critical
    }

    [Fact]
    public void Without_pressure_short_guests_grow_back_up_to_static_max()
    {
        var a = new MomPolicy(new MomOptions(), 1).Decide(Host(0.30, 0, Guest("short", 10_000, 1_000), Guest("near-max", 10_000, 1_000, staticMax: 10_200), Guest("fine", 10_000, 3_000)));
        Assert.Equal(10_500, Target(a, "short"));
        Assert.Equal(10_200, Target(a, "near-max"));
        Assert.DoesNotContain(a, x => x.Domain == "fine");  // 30% available is above the 25% MOM grows for
    }

    [Fact]
    public void Ksm_speeds_up_under_pressure_and_slows_without_within_its_bounds()
    {
        var mom = new MomPolicy(new MomOptions(), 1);
        double Rate(IReadOnlyList<PolicyAction> a) => a.Single(x => x.Kind == PolicyActionKind.SharingScanRate).Value;
        Assert.Equal(36_400, Rate(mom.Decide(Host(0.10, 6_400))));          // 64 + 300 pages per 10 ms
        for (int i = 0; i < 5; i++) mom.Decide(Host(0.10, 0.5));
        Assert.Equal(1_250, mom.KsmPages);                                  // capped
        Assert.Equal(120_000, Rate(mom.Decide(Host(0.50, 125_000))));       // decays by 50 pages
    }
}
