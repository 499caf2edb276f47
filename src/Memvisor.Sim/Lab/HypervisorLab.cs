using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Hypervisor.Personalities;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Sim.Lab;

/// <summary>
/// The same guests and workloads on another hypervisor's host (compare --hypervisors): the host takes that
/// hypervisor's defaults (allocation, sharing, swapping, its own policy unless the scenario names one), and each
/// mechanism it does not have is turned off, with a sentence saying so.
/// </summary>
public static class HypervisorLab
{
    public static (Scenario Scenario, IReadOnlyList<string> Notes) On(Scenario scenario, HostPersonality p)
    {
        var notes = new List<string>();
        // Every host of the scenario becomes one of p's (a scenario's hosts run one hypervisor).
        var host = HostOn(scenario.Host, p, notes);
        var more = scenario.MoreHosts.Select(h => HostOn(h, p, notes)).ToList();

        var domains = new List<DomainSpec>();
        foreach (var d in scenario.Domains)
        {
            var e = d;
            void Off(string what, string why) => notes.Add($"{p.Name}: {d.Name}'s {what} is off ({why}).");
            if (e.Allocation == AllocationMode.OnDemand && p.OnDemand == OnDemandModel.None)
            {
                e = e with { Allocation = AllocationMode.Static };
                Off("on-demand allocation", p.Lacks("on-demand allocation"));
            }
            if (e.Mmu.Mode == MmuMode.Pv && p.Kind != HypervisorKind.Xen)
            {
                e = e with { Mmu = e.Mmu with { Mode = MmuMode.Hap }, Sharing = null };
                notes.Add($"{p.Name}: {d.Name} runs with hap ({p.Lacks("paravirtualized MMU")}).");
            }
            if (e.Sharing == true && !p.HasSharing) e = e with { Sharing = null };
            if (e.Guest.Tmem && !p.HasTmem)
            {
                e = e with { Guest = e.Guest with { Tmem = false } };
                Off("tmem", p.Lacks("transcendent memory"));
            }
            if (e.Guest.FreePageReporting && !p.HasFreePageReporting)
            {
                e = e with { Guest = e.Guest with { FreePageReporting = false } };
                Off("free page reporting", p.Lacks("free page reporting"));
            }
            // Split drivers over grant tables are Xen's: on another hypervisor the disk is reached directly and the NIC has no traffic.
            if (e.Disk.Pv && p.Kind != HypervisorKind.Xen)
            {
                e = e with { Disk = new DiskSpec() };
                Off("PV disk", p.Lacks("Xen's split block driver"));
            }
            if (e.Nic.Pv && p.Kind != HypervisorKind.Xen)
            {
                e = e with { Nic = new NicSpec() };
                Off("PV network device", p.Lacks("Xen's split network driver"));
            }
            if (e.PagingTargetBytes is not null && !p.HasPagingTarget)
            {
                e = e with { PagingTargetBytes = null };
                Off("paging target", p.Lacks("hypervisor paging of running VMs"));
            }
            domains.Add(e);
        }
        // A policy the scenario names stays; otherwise each host runs its own.
        var policy = scenario.Policy is { Named: true } named ? named
            : new PolicySpec { Name = p.NativePolicy, Named = false, IntervalNs = scenario.Policy?.IntervalNs ?? new PolicySpec().IntervalNs };
        // Post-copy is QEMU's: elsewhere the same migrations go by pre-copy.
        var events = scenario.Events;
        if (p.Kind != HypervisorKind.Kvm && events.Any(e => e.PostCopyAfterRounds is not null))
        {
            events = [.. events.Select(e => e with { PostCopyAfterRounds = null })];
            notes.Add($"{p.Name}: post-copy migrations go by pre-copy ({p.Lacks("post-copy live migration")}).");
        }
        return (scenario with { Host = host, MoreHosts = more, Domains = domains, Policy = policy, Events = events }, notes.Distinct().ToList());
    }

    // A host of p's: its mechanisms as p has them, each one p lacks turned off with a note.
    private static HostSpec HostOn(HostSpec h, HostPersonality p, List<string> notes)
    {
        var o = h.Overcommit;
        var sharing = o.Sharing with { InterVm = !p.SharesWithinVmOnly, UseZeroPages = p.SharesZeroPagesByDefault };
        if (sharing.Enabled && !p.HasSharing)
        {
            sharing = sharing with { Enabled = false };
            notes.Add($"{p.Name}: host.sharing is off ({p.Lacks("page sharing")}).");
        }
        var tmem = o.Tmem;
        if (tmem.Enabled && !p.HasTmem)
        {
            tmem = tmem with { Enabled = false };
            notes.Add($"{p.Name}: host.tmem is off ({p.Lacks("transcendent memory")}).");
        }
        var paging = o.Paging;
        if (paging.Configured && !p.HasPagingTarget)
        {
            paging = paging with { Configured = false };
            notes.Add($"{p.Name}: host.paging is off ({p.Lacks("hypervisor paging of running VMs")}).");
        }
        var largePages = o.LargePages;
        if (largePages is not null && p.OnDemand != OnDemandModel.FirstTouch)
        {
            largePages = null;
            notes.Add($"{p.Name}: host.large_pages does not apply ({p.Lacks("allocation on first touch")}).");
        }
        return h with { Overcommit = o with { Personality = p, Sharing = sharing, Tmem = tmem, Paging = paging, LargePages = largePages } };
    }
}
