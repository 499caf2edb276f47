using Memvisor.Policy;
using Memvisor.Policy.HyperV;
using Memvisor.Policy.Snapshot;

namespace Memvisor.Tests.Policy;

public class HyperVTests
{
    private static DomainSnapshot Vm(string name, long committed, int buffer, long tot = 2000, int weight = 5000) => new()
    {
        Name = name, TotPages = tot, TargetPages = tot, CurrentPages = tot, MemoryPages = tot, StaticMaxPages = 8000,
        CommittedAsPages = committed, FloorPages = 0, BufferPercent = buffer, MinimumPages = 500, MaximumPages = 8000,
        Weight = weight, FeatureBalloon = true,
    };

    [Theory]
    [InlineData(20, 1200)]
    [InlineData(50, 1500)]
    [InlineData(100, 2000)]
    public void A_vm_gets_its_demand_plus_its_buffer(int buffer, long expected)
    {
        Assert.Equal(expected, HyperVPolicy.Desired(Vm("a", 1000, buffer)));
    }

    [Fact]
    public void The_buffer_stays_within_minimum_and_maximum()
    {
        Assert.Equal(500, HyperVPolicy.Desired(Vm("a", 100, 20)));
        Assert.Equal(8000, HyperVPolicy.Desired(Vm("a", 7000, 50)));
    }

    [Fact]
    public void It_shrinks_by_the_balloon_and_grows_by_hot_add_beyond_what_is_plugged()
    {
        var p = new HyperVPolicy(new HyperVOptions { ReservePages = 0 }, 1);
        // Demand 1000 + 20% on a VM of 2000: the balloon takes it to 1200.
        var shrink = p.Decide(new HostSnapshot { TotalPages = 100_000, FreePages = 50_000, Domains = [Vm("a", 1000, 20)] });
        Assert.Equal(new PolicyAction(PolicyActionKind.MemSet, "a", 1200), Assert.Single(shrink));
        // Demand 3000 + 20% with 2000 plugged and hot-plug: 1600 pages are hot-added.
        var vm = Vm("a", 3000, 20) with { HotplugEnabled = true };
        var grow = p.Decide(new HostSnapshot { TotalPages = 100_000, FreePages = 50_000, Domains = [vm] });
        Assert.Equal(new PolicyAction(PolicyActionKind.HotAdd, "a", 1600), Assert.Single(grow));
    }

    [Fact]
    public void When_memory_is_short_weight_decides_who_gets_it()
    {
        var heavy = Vm("heavy", 3000, 0, weight: 9000);
        var light = Vm("light", 3000, 0, weight: 1000);
        var alloc = HyperVPolicy.Share([heavy, light], new() { ["heavy"] = 3000, ["light"] = 3000 }, 3000);
        Assert.Equal(3000, alloc["heavy"] + alloc["light"]);
        Assert.True(alloc["heavy"] > alloc["light"]);
        Assert.True(alloc["light"] >= 500, "each VM keeps its minimum");
    }

    [Fact]
    public void Shares_of_a_snapshot_at_its_largest_sizes_never_overflow()
    {
        // 1,000 VMs of 2^40 pages each (a snapshot's largest) that want all of it, heavily weighted, with half their
        // pages available to share, as Decide counts it (free plus their tot_pages): rest * weight passes 2^63.
        const long huge = SnapshotCheck.MaxPages;
        var vms = Enumerable.Range(0, 1000).Select(i => Vm($"vm{i}", huge, 0, weight: 10000) with { MinimumPages = 1, MaximumPages = huge }).ToList();
        var want = vms.ToDictionary(v => v.Name, _ => huge);
        long available = vms.Count * (huge / 2);
        var alloc = HyperVPolicy.Share(vms, want, available);
        Assert.All(alloc.Values, a => Assert.InRange(a, huge / 2 - 1, huge / 2));
        Assert.InRange(alloc.Values.Sum(), available - vms.Count, available);
    }
}
