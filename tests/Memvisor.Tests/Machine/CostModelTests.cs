using Memvisor.Machine.Time;

namespace Memvisor.Tests.Machine;

public sealed class CostModelTests
{
    [Fact]
    public void A_faster_clock_shortens_the_costs_counted_in_cycles_and_no_other()
    {
        var at3 = new CostModel();
        var at6 = new CostModel();
        at6.Apply(new Dictionary<string, double> { ["cpu_ghz"] = 6 });
        Assert.Equal(6, at6.CpuGhz);
        Assert.Equal(at3.HypercallNs / 2, at6.HypercallNs, 9);
        Assert.Equal(at3.VmExitNs / 2, at6.VmExitNs, 9);
        Assert.Equal(at3.WalkRefNs / 2, at6.WalkRefNs, 9);
        Assert.Equal(at3.ShadowEmulateNs / 2, at6.ShadowEmulateNs, 9);
        Assert.Equal(at3.LogDirtyProtectPageNs / 2, at6.LogDirtyProtectPageNs, 9);
        // Device and memory-bandwidth costs are not cycles of this CPU.
        Assert.Equal(at3.ScrubPageNs, at6.ScrubPageNs);
        Assert.Equal(at3.GuestSwapReadNs, at6.GuestSwapReadNs);
        Assert.Equal(at3.Lz4CompressPageNs, at6.Lz4CompressPageNs);
    }

    [Fact]
    public void A_cost_given_in_ns_is_kept_whatever_the_clock_and_the_order()
    {
        foreach (var order in new[] { new[] { "cpu_ghz", "hypercall_ns" }, ["hypercall_ns", "cpu_ghz"] })
        {
            var values = new Dictionary<string, double> { ["cpu_ghz"] = 1.5, ["hypercall_ns"] = 77 };
            var c = new CostModel();
            c.Apply(order.ToDictionary(k => k, k => values[k]));
            Assert.Equal(77, c.HypercallNs);
            Assert.Equal(new CostModel().VmExitNs * 2, c.VmExitNs, 9);
        }
    }

    [Fact]
    public void The_default_clock_changes_nothing()
    {
        var c = new CostModel();
        c.Apply(new Dictionary<string, double> { ["cpu_ghz"] = CostModel.DefaultGhz });
        var d = new CostModel();
        Assert.Equal((d.HypercallNs, d.VmExitNs, d.PageAllocNs, d.GuestReclaimScanNs, d.WalkRefNs), (c.HypercallNs, c.VmExitNs, c.PageAllocNs, c.GuestReclaimScanNs, c.WalkRefNs));
        Assert.Equal((d.ShadowEmulateNs, d.ShadowFaultNs, d.ShadowResyncNs, d.PvValidateEntryNs, d.LogDirtyProtectPageNs),
            (c.ShadowEmulateNs, c.ShadowFaultNs, c.ShadowResyncNs, c.PvValidateEntryNs, c.LogDirtyProtectPageNs));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-3")]
    [InlineData("5000")]
    public void A_clock_that_is_no_clock_is_refused_at_its_field(string ghz)
    {
        string yaml = Memvisor.Tests.Support.TinyScenario.Yaml + "\ncosts: { cpu_ghz: " + ghz + " }\n";
        var e = Assert.Throws<Memvisor.Sim.Scenarios.ScenarioException>(() => Memvisor.Sim.Scenarios.ScenarioLoader.Parse(yaml, "t.yaml"));
        Assert.Contains("costs.cpu_ghz", Assert.Single(e.Errors).ToString());
    }
}
