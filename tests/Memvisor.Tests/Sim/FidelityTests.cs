using System.Globalization;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

/// <summary>
/// docs/fidelity.md, row by row: each published behaviour, run from its scenario in examples/fidelity/ as the doc's
/// command runs it, and checked against what the source says.
/// </summary>
public class FidelityTests
{
    private static Scenario Load(string name, Func<string, string>? edit = null)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "fidelity", name + ".yaml");
        string text = File.ReadAllText(path);
        return ScenarioLoader.Parse(edit is null ? text : edit(text), path);
    }

    [Fact]
    public void Xen_3_3_runs_three_1_GiB_domains_on_a_4_GiB_host_and_six_or_more_when_each_self_balloons_before_the_next_starts()
    {
        var s = Load("xen33-overcommit");
        var sla = new ServiceLevel(0.01);
        var (together, _) = DensitySearch.Run(s, "vm", "static", sla, 16, null);
        Assert.Equal(3, together);
        var (withoutSelfBalloon, _) = DensitySearch.Run(Load("xen33-overcommit", t => t.Replace("    selfballoon: { interval: 5s }\n", "")), "vm", "static", sla, 16, null, createEveryNs: 30_000_000_000);
        Assert.Equal(3, withoutSelfBalloon);
        var (oneAfterAnother, _) = DensitySearch.Run(s, "vm", "static", sla, 16, null, createEveryNs: 30_000_000_000);
        Assert.InRange(oneAfterAnother, 6, 16);
    }

    [Fact]
    public void A_xen_pod_guest_without_a_balloon_driver_is_crashed_when_it_outruns_its_cache()
    {
        var crashed = new Simulation(Load("xen-pod-crash")).Run();
        var guest = Assert.Single(crashed.Summary!.Domains, d => d.Name == "guest");
        Assert.Equal("crashed", guest.State);
        Assert.Equal(1024, guest.Pod!.PagesChecked);
        var driver = new Simulation(Load("xen-pod-crash", t => t.Replace("    balloon: { enabled: false }\n", ""))).Run();
        Assert.Equal("running", Assert.Single(driver.Summary!.Domains, d => d.Name == "guest").State);
    }

    [Fact]
    public void With_no_idle_tax_equal_shares_split_memory_evenly_and_at_75_percent_the_idle_vm_gives_memory_to_the_busy_one()
    {
        long Target(RunResult r, string name) => Assert.Single(r.Summary!.Domains, d => d.Name == name).MemoryKib;
        var taxed = new Simulation(Load("esx-idle-tax")).Run();
        var untaxed = new Simulation(Load("esx-idle-tax", t => t.Replace("idle_tax: 75%", "idle_tax: 0%"))).Run();
        // Equal up to the policy's chunk of memory moved at a time.
        Assert.InRange(Math.Abs(Target(untaxed, "busy") - Target(untaxed, "idle")), 0, (Target(untaxed, "busy") + Target(untaxed, "idle")) / 100);
        Assert.True(Target(taxed, "busy") > Target(taxed, "idle") + (64 << 10), $"busy {Target(taxed, "busy")} KiB, idle {Target(taxed, "idle")} KiB");
        Assert.True(Target(taxed, "idle") < Target(untaxed, "idle"));
    }

    [Fact]
    public void As_free_memory_falls_esx_shares_then_balloons_then_compresses_then_swaps()
    {
        var r = new Simulation(Load("esx-reclamation-order")).Run();
        var columns = r.Timeseries.Columns.ToList();
        double? First(Func<long?[], bool> seen)
        {
            foreach (var row in r.Timeseries.Rows)
                if (seen(row.Values)) return row.TimeNs / 1e9;
            return null;
        }
        long V(long?[] v, string column) => v[columns.IndexOf(column)] ?? 0;
        var targets = columns.Where(c => c.StartsWith("vm-", StringComparison.Ordinal) && c.EndsWith("_target_pages", StringComparison.Ordinal)).ToList();
        double? sharing = First(v => V(v, "sharing_saved_pages") > 0);
        double? balloon = First(v => targets.Any(t => v[columns.IndexOf(t)] is long p && p < 131072));
        double? compression = First(v => V(v, "host_compression_pages") > 0);
        double? swap = First(v => V(v, "paging_swapped_pages") > 0);
        string order = string.Join(", ", new[] { sharing, balloon, compression, swap }.Select(t => t?.ToString(CultureInfo.InvariantCulture) ?? "never"));
        Assert.True(sharing < balloon && balloon < compression && compression <= swap, $"sharing, balloon, compression, swap began at {order} s");
    }

    [Fact]
    public void Hyper_v_gives_a_vm_its_demand_plus_its_buffer()
    {
        var r = new Simulation(Load("hyperv-buffer"), keepSnapshots: true).Run();
        var vm = Assert.Single(r.Snapshots[^1].Domains, d => d.Name == "vm");
        long demand = vm.CommittedAsPages + vm.FloorPages;
        Assert.Equal(demand + demand * 20 / 100, vm.TargetPages);
        Assert.Equal(vm.TargetPages, vm.TotPages);
    }
}
