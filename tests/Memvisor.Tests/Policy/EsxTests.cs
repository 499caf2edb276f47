using Memvisor.Policy;
using Memvisor.Policy.Esx;
using Memvisor.Policy.Snapshot;

namespace Memvisor.Tests.Policy;

public class EsxTests
{
    // Two VMs of 4000 pages with equal shares on a host that can give them 4000 in all; busy touches all it has, idle 1%.
    private static DomainSnapshot Vm(string name, double activeShare) => new()
    {
        Name = name, TotPages = 4000, TargetPages = 4000, CurrentPages = 4000, MemoryPages = 4000, StaticMaxPages = 4000,
        Shares = 1000, ReservationPages = 0, LimitPages = 4000, ActivePages = (long)(4000 * activeShare), FeatureBalloon = true,
    };

    [Fact]
    public void With_no_idle_tax_equal_shares_keep_equal_memory()
    {
        var alloc = EsxPolicy.Allocate([Vm("busy", 1.0), Vm("idle", 0.01)], 4000, idleTax: 0, chunkPages: 100);
        Assert.Equal(2000, alloc["busy"]);
        Assert.Equal(2000, alloc["idle"]);
    }

    [Fact]
    public void With_the_default_idle_tax_the_idle_vm_gives_memory_to_the_busy_one()
    {
        var alloc = EsxPolicy.Allocate([Vm("busy", 1.0), Vm("idle", 0.01)], 4000, idleTax: 0.75, chunkPages: 100);
        Assert.Equal(4000, alloc["busy"] + alloc["idle"]);
        // At 75% an idle page costs four times an active one: reclaiming stops near busy = 4 x idle's active-weighted size.
        Assert.True(alloc["busy"] >= 3 * alloc["idle"], $"busy {alloc["busy"]}, idle {alloc["idle"]}");
        Assert.True(alloc["idle"] > 0);
    }

    [Fact]
    public void Reservations_are_kept_and_limits_cap()
    {
        var idle = Vm("idle", 0.0) with { ReservationPages = 1500 };
        var alloc = EsxPolicy.Allocate([Vm("busy", 1.0) with { LimitPages = 2200 }, idle], 3000, idleTax: 0.75, chunkPages: 100);
        Assert.Equal(1500, alloc["idle"]);
        Assert.Equal(1500, alloc["busy"]);
        var plenty = EsxPolicy.Allocate([Vm("busy", 1.0) with { LimitPages = 2200 }, idle], 100_000, 0.75, 100);
        Assert.Equal(2200, plenty["busy"]);
    }

    [Fact]
    public void The_free_memory_state_picks_the_mechanism()
    {
        var p = new EsxPolicy(new EsxOptions(), 1);
        Assert.Equal(EsxState.High, p.StateOf(0.07));
        Assert.Equal(EsxState.Soft, p.StateOf(0.05));
        Assert.Equal(EsxState.Hard, p.StateOf(0.03));
        Assert.Equal(EsxState.Low, p.StateOf(0.005));
        // 100,000 pages with 5% free (soft): the balloon is asked, nothing is paged. At 1% free (low): paging too.
        var host = new HostSnapshot { TotalPages = 100_000, FreePages = 5000, Domains = [Vm("busy", 1.0) with { LimitPages = 60_000, TotPages = 60_000, TargetPages = 60_000 }, Vm("idle", 0.0) with { LimitPages = 60_000, TotPages = 35_000, TargetPages = 35_000 }] };
        var soft = p.Decide(host);
        Assert.Contains(soft, a => a.Kind == PolicyActionKind.MemSet);
        Assert.DoesNotContain(soft, a => a.Kind == PolicyActionKind.PagingTarget);
        var low = new EsxPolicy(new EsxOptions(), 1).Decide(host with { FreePages = 1000 });
        Assert.Contains(low, a => a.Kind == PolicyActionKind.PagingTarget && a.Value > 0);
    }
}
