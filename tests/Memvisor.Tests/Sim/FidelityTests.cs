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
    // The ESX reclamation run serves two rows (the order, and when large pages are broken): it is run once.
    private static readonly Lazy<RunResult> EsxReclamation = new(() => new Simulation(Load("esx-reclamation-order")).Run());

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
        var r = EsxReclamation.Value;
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

    [Fact]
    public void Esx_shares_nothing_inside_its_large_pages_until_free_memory_falls_below_400_percent_of_minFree()
    {
        var r = EsxReclamation.Value;
        var columns = r.Timeseries.Columns.ToList();
        int free = columns.IndexOf("host_free_pages"), saved = columns.IndexOf("sharing_saved_pages");
        long threshold = Memvisor.Hypervisor.Personalities.EsxMinFree.BreakLargePagesAt * Memvisor.Hypervisor.Personalities.EsxMinFree.Pages(r.Frames);
        var rows = r.Timeseries.Rows.ToList();
        int start = rows.FindIndex(row => row.Values[saved] > 0);
        Assert.True(start > 0, "sharing never saved a page");
        // Until then free memory stayed at or above the threshold; by then it had dipped below (sharing gave some back).
        Assert.All(rows.Take(start), row => Assert.True(row.Values[free] >= threshold, $"at {row.TimeNs / 1e9} s free {row.Values[free]} is below {threshold} and nothing was shared"));
        Assert.True(rows[start].Values[free] - rows[start].Values[saved] < threshold);
        Assert.All(r.Summary!.Domains.Where(d => d.Name.StartsWith("vm-", StringComparison.Ordinal)), d => Assert.True(d.LargePages!.Populated > 0 && d.LargePages.Broken > 0));

        // With large pages off, ESX shares from the first scans (the first seconds are enough to see it).
        var small = new Simulation(Load("esx-reclamation-order", t => t.Replace("  hypervisor: esx\n", "  hypervisor: esx\n  large_pages: false\n").Replace("duration: 60s", "duration: 4s"))).Run();
        int smallStart = small.Timeseries.Rows.ToList().FindIndex(row => row.Values[saved] > 0);
        Assert.InRange(smallStart, 0, 2);
    }

    [Fact]
    public void Ksm_splits_the_transparent_huge_pages_it_merges_pages_in_with_plenty_of_memory_free()
    {
        var r = new Simulation(Load("kvm-thp-ksm")).Run();
        // Nothing else took a page from a huge page: no balloon, no host swapping, and the host stayed mostly free.
        Assert.Equal(0, r.Mechanisms.Balloon.PagesGivenBack);
        Assert.Equal(0, r.Mechanisms.Paging.PagedOut);
        Assert.True(r.FreePagesMin > r.Frames / 2);
        Assert.True(r.Mechanisms.Sharing.PagesSharing > 0);
        foreach (var vm in r.Summary!.Domains.Where(d => d.Name.StartsWith("vm-", StringComparison.Ordinal)))
        {
            Assert.True(vm.LargePages!.Populated > 0, $"{vm.Name} got no huge page");
            Assert.InRange(vm.LargePages.Broken, 1, vm.LargePages.Populated);
        }
    }

    [Fact]
    public void Hyper_v_restarts_a_vm_short_of_its_startup_memory_under_smart_paging_until_dynamic_memory_brings_it_down_and_never_starts_one()
    {
        var r = new Simulation(Load("hyperv-smart-paging")).Run();
        var s = r.Summary!;
        var app = Assert.Single(s.Domains, d => d.Name == "app");
        Assert.Equal(("running", 1), (app.State, app.Restarts));
        var events = s.HostEvents.Where(e => e.Mechanism == "smart-paging").ToList();
        Assert.Equal(2, events.Count);
        Assert.Equal(21, events[0].TimeS);
        Assert.Contains("restarted with", events[0].Message);
        Assert.InRange(events[1].TimeS, 21.000001, 60);
        Assert.Contains("backed by memory again", events[1].Message);
        // A start short of startup memory fails; the restart is not refused.
        Assert.Equal("failed", Assert.Single(s.Domains, d => d.Name == "late").State);
        Assert.DoesNotContain(s.Errors, e => e.Domain == "app");

        // With the host able to give the startup memory, the restart is an ordinary one.
        var plain = new Simulation(Load("hyperv-smart-paging", t => t.Replace("  - { at: 12s, action: create, domain: hog }\n", ""))).Run();
        Assert.Equal(1, Assert.Single(plain.Summary!.Domains, d => d.Name == "app").Restarts);
        Assert.DoesNotContain(plain.Summary!.HostEvents, e => e.Mechanism == "smart-paging");
    }
}
