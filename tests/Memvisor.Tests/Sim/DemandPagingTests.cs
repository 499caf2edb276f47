using Memvisor.Hypervisor.Mmu;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

/// <summary>The built-in demand-paging scenario, cut to 3 s: Xen 3.3's Shadow-3 result and the nested walk's worst cases.</summary>
public class DemandPagingTests
{
    [Fact]
    public void Shadow3_takes_a_third_fewer_trips_per_demand_fault_than_shadow2_and_nested_walks_take_24_or_19_references()
    {
        var scenario = BuiltinScenarios.Load("demand-paging") with { DurationNs = 3_000_000_000 };
        var result = new Simulation(scenario).Run();
        MmuStats Mmu(string name) => result.Domains.Single(d => d.Name == name).Domain!.Mmu!.Stats;
        static double PerFault(MmuStats s) => (double)s.HypervisorTrips / s.DemandFaults;

        var shadow2 = Mmu("shadow2");
        var shadow3 = Mmu("shadow3");
        Assert.True(shadow2.DemandFaults > 100_000 && shadow3.DemandFaults == shadow2.DemandFaults, $"{shadow2.DemandFaults} vs {shadow3.DemandFaults}");
        // Fault, transition write, real write: three trips under Shadow-2; the out-of-sync table leaves the fault and one pull-through.
        Assert.InRange(PerFault(shadow2), 2.95, 3.1);
        Assert.InRange(PerFault(shadow3) / PerFault(shadow2), 0.62, 0.71);
        Assert.Equal(0, shadow3.EmulatedWrites * 100 / shadow2.EmulatedWrites);
        // PV: the bounced fault and one mmu_update hypercall each.
        Assert.InRange(PerFault(Mmu("pv")), 1.9, 2.2);
        Assert.Equal(0, Mmu("hap").HypervisorTrips);
        Assert.Equal(24, Mmu("hap-4k").WalkRefsMax);
        Assert.Equal(19, Mmu("hap-2m").WalkRefsMax);
        Assert.True(Mmu("hap").WalkRefsTotal < Mmu("hap-2m").WalkRefsTotal / 3);
    }
}
