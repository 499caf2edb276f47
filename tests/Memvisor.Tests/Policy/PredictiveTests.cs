using Memvisor.Policy;
using Memvisor.Policy.Predictive;
using Memvisor.Policy.Snapshot;

namespace Memvisor.Tests.Policy;

public class PredictiveTests
{
    // A curve whose reuses all fall at distances below `knee` pages: with knee pages it stops missing.
    private static MissCurve Knee(long knee, double accesses) =>
        new() { BucketPages = 100, Hits = [.. Enumerable.Range(0, 100).Select(b => b * 100 < knee ? accesses / (knee / 100) : 0.0)] };

    private static DomainSnapshot Vm(string name, MissCurve mrc) => new()
    {
        Name = name, TotPages = 2000, TargetPages = 2000, CurrentPages = 2000, MemoryPages = 2000, StaticMaxPages = 10_000,
        DynamicMinPages = 1000, DynamicMaxPages = 10_000, FloorPages = 200, FeatureBalloon = true, Mrc = mrc,
    };

    [Fact]
    public void On_a_host_that_is_not_short_memory_badly_placed_moves_toward_the_plan()
    {
        // Both hold 3000 and nothing is free beyond the reserve: "cliff" misses until 4800 workload pages, "flat"
        // gains nothing past 800. No shortfall, nothing to grant: static would leave them; the plan moves memory.
        var p = new PredictivePolicy(new PredictiveOptions { ReservePages = 1000 }, 1);
        var cliff = Vm("cliff", Knee(4800, 1e6)) with { TotPages = 3000, TargetPages = 3000 };
        var flat = Vm("flat", Knee(800, 1e6)) with { TotPages = 3000, TargetPages = 3000 };
        var host = new HostSnapshot { TotalPages = 100_000, FreePages = 2000, Domains = [cliff, flat] };
        var actions = p.Decide(host).Where(a => a.Kind == PolicyActionKind.MemSet).ToDictionary(a => a.Domain, a => (long)a.Value);
        Assert.True(actions["flat"] < 3000, $"flat {actions.GetValueOrDefault("flat")}");
        Assert.Equal(6000, actions["cliff"] + actions["flat"]);
        // Placed as the plan wants, nothing moves.
        var settled = host with { Domains = [cliff with { TotPages = actions["cliff"], TargetPages = actions["cliff"] }, flat with { TotPages = actions["flat"], TargetPages = actions["flat"] }] };
        Assert.DoesNotContain(p.Decide(settled), a => a.Kind == PolicyActionKind.MemSet);
    }

    [Fact]
    public void Memory_goes_where_it_cuts_the_most_faults()
    {
        // 6000 pages: "cliff" needs 4800 for its workload to stop missing, "flat" gains nothing past 1000.
        var cliff = Vm("cliff", Knee(4800, 1e6));
        var flat = Vm("flat", Knee(800, 1e6));
        var plan = PredictivePolicy.Plan([cliff, flat], 6000, 100);
        Assert.Equal(5000, plan["cliff"]);
        Assert.Equal(1000, plan["flat"]);
    }

    [Fact]
    public void What_no_curve_wants_is_split_toward_dynamic_max()
    {
        var plan = PredictivePolicy.Plan([Vm("a", Knee(800, 1e6)), Vm("b", Knee(800, 1e6))], 20_000, 100);
        Assert.Equal(10_000, plan["a"]);
        Assert.Equal(10_000, plan["b"]);
    }

    [Fact]
    public void Under_pressure_it_speeds_sharing_up_before_paging()
    {
        var p = new PredictivePolicy(new PredictiveOptions { ReservePages = 0 }, 1);
        var host = new HostSnapshot { TotalPages = 100_000, FreePages = 1000, SharingScanRate = 5000, Domains = [Vm("a", Knee(800, 1e6))] };
        var actions = p.Decide(host);
        Assert.Contains(new PolicyAction(PolicyActionKind.SharingScanRate, "", 20_000), actions);
        var calm = p.Decide(host with { FreePages = 50_000, SharingScanRate = 20_000 });
        Assert.Contains(new PolicyAction(PolicyActionKind.SharingScanRate, "", 5000), calm);
    }

    [Fact]
    public void When_the_host_is_short_memory_comes_from_the_guest_whose_curve_loses_least()
    {
        // Both hold 5000; "cliff" still reuses everything up to 4800 workload pages, "flat" nothing past 800.
        var cliff = Vm("cliff", Knee(4800, 1e6)) with { TotPages = 5000, TargetPages = 5000 };
        var flat = Vm("flat", Knee(800, 1e6)) with { TotPages = 5000, TargetPages = 5000 };
        var taken = PredictivePolicy.Shrink([cliff, flat], 2000, 100);
        Assert.Equal(3000, taken["flat"]);
        Assert.DoesNotContain("cliff", taken.Keys);
        // No guest goes below its dynamic-min, however short the host is.
        var all = PredictivePolicy.Shrink([cliff, flat], 100_000, 100);
        Assert.Equal((1000L, 1000L), (all["cliff"], all["flat"]));
    }
}
