using Memvisor.Policy;
using Memvisor.Policy.Snapshot;
using Memvisor.Policy.Squeezed;

namespace Memvisor.Tests.Policy;

public class SqueezedTests
{
    private static readonly SqueezedOptions Options = new() { ReservePages = 1000 };

    private static DomainSnapshot Dom(string name, long min, long max, long tot, long? target = null, long? current = null) => new()
    {
        Name = name, DynamicMinPages = min, DynamicMaxPages = max, TotPages = tot, TargetPages = target ?? tot,
        CurrentPages = current ?? tot, FeatureBalloon = true, StaticMaxPages = max, MemoryPages = tot,
    };

    private static HostSnapshot Host(long free, params DomainSnapshot[] domains) => new() { TotalPages = 1 << 20, FreePages = free, Domains = domains };

    private static Dictionary<string, long> Targets(IReadOnlyList<PolicyAction> actions) =>
        actions.Where(a => a.Kind == PolicyActionKind.MemSet).GroupBy(a => a.Domain).ToDictionary(g => g.Key, g => (long)g.Last().Value);

    [Fact]
    public void Every_domain_sits_at_the_same_fraction_of_its_range()
    {
        // Held 3000 + free 4000 - reserve 1000 = 6000 to share; minimums 2000, spans 8000: half way for everyone.
        var p = new SqueezedPolicy(Options, 1);
        var host = Host(4000, Dom("a", 1000, 5000, 1000), Dom("b", 500, 2500, 1000), Dom("c", 500, 2500, 1000));
        var t = Targets(p.Decide(host));
        Assert.Equal((3000L, 1500L, 1500L), (t["a"], t["b"], t["c"]));
        Assert.Equal(0.5, SqueezedPolicy.Fraction([Dom("a", 1000, 5000, 0), Dom("b", 500, 2500, 0), Dom("c", 500, 2500, 0)], 6000), 9);
    }

    [Fact]
    public void Plenty_puts_everyone_at_dynamic_max_and_scarcity_at_dynamic_min()
    {
        var plenty = Targets(new SqueezedPolicy(Options, 1).Decide(Host(100_000, Dom("a", 100, 400, 200), Dom("b", 100, 800, 200))));
        Assert.Equal((400L, 800L), (plenty["a"], plenty["b"]));
        var scarce = Targets(new SqueezedPolicy(Options, 1).Decide(Host(0, Dom("a", 100, 400, 400), Dom("b", 100, 800, 800))));
        Assert.Equal((100L, 100L), (scarce["a"], scarce["b"]));
    }

    [Fact]
    public void Frees_are_applied_before_allocations()
    {
        // a must shrink to make room for b; nothing is free beyond the reserve, so b may not grow yet.
        var p = new SqueezedPolicy(Options, 1);
        var actions = p.Decide(Host(1000, Dom("a", 1000, 3000, 3000), Dom("b", 1000, 3000, 1000)));
        var t = Targets(actions);
        Assert.Equal(2000, t["a"]);
        Assert.DoesNotContain("b", t.Keys);
        // a gave its 1000 back: now b may take it.
        Assert.Equal(2000, Targets(p.Decide(Host(2000, Dom("a", 1000, 3000, 2000), Dom("b", 1000, 3000, 1000))))["b"]);
    }

    [Fact]
    public void A_domain_that_does_not_move_is_stuck_then_uncooperative_and_left_out_of_the_split()
    {
        var p = new SqueezedPolicy(Options with { StuckAfter = 2, UncooperativeAfter = 3 }, 1);
        IReadOnlyList<PolicyAction> last = [];
        // The first decision sees where it stands; each later one without progress counts.
        for (int i = 0; i < 4; i++)
        {
            // "pinned" was asked to go to 1000 but stays at 3000; "free" moves as asked.
            last = p.Decide(Host(1000, Dom("pinned", 1000, 3000, 3000, target: 1000), Dom("free", 1000, 3000, 2000)));
            if (i == 2) Assert.Contains("pinned", p.Stuck);
        }
        Assert.Contains(last, a => a.Kind == PolicyActionKind.MarkUncooperative && a.Domain == "pinned");
        Assert.DoesNotContain(last, a => a.Kind == PolicyActionKind.MemSet && a.Domain == "pinned");
        // Left out, pinned's 3000 are fixed: free gets everything else, 1000 + 2000 - 1000 = 2000, its current size.
        Assert.DoesNotContain(last, a => a.Kind == PolicyActionKind.MemSet && a.Domain == "free" && a.Value < 2000);

        // It moves again: squeezed counts it back in.
        p.Decide(Host(1000, Dom("pinned", 1000, 3000, 2500, target: 1000, current: 2500) with { Uncooperative = false }, Dom("free", 1000, 3000, 2000)));
        Assert.DoesNotContain("pinned", p.Stuck);
    }
}
