using Memvisor.Hypervisor;
using Memvisor.Machine;
using Memvisor.Machine.Time;
using Memvisor.Policy;
using Memvisor.Sim.Policies;
using Memvisor.Sim.Scenarios;
using Memvisor.Sim.Toolstack;

namespace Memvisor.Sim.Engine;

/// <summary>
/// One host of a run: its machine and hypervisor, its dom0, its toolstack (xl) with the create queue and balloon watch,
/// and its own policy daemon (squeezed, MOM and the others manage one host each).
/// </summary>
internal sealed class HostRuntime
{
    public HostRuntime(int index, HostSpec spec, Scenario scenario, CostModel costs, Func<long> now, ulong seed, DomainRecord dom0)
    {
        Index = index;
        Spec = spec;
        Machine = spec.Nodes is { } nodes ? new MachineMemory(nodes, costs.NumaRemoteNs) : new MachineMemory(Memvisor.Machine.Frames.PageSize.FromBytes(spec.MemoryBytes), spec.NumaNodes);
        Hv = new Host(Machine, costs, now, spec.Overcommit with { Activity = scenario.Policy?.Activity ?? new() });
        Toolstack = new XlToolstack(Hv, costs, seed) { Link = spec.Link, Index = index, Dom0 = dom0 };
        Balloons = new BalloonMonitor(Hv);
        Policy = scenario.Policy is { } ps ? PolicyFactory.Create(ps) : null;
        Dom0 = dom0;
        Creates = new CreateQueue(Toolstack, Machine, dom0);
        FreeMin = Machine.FreeFrames;
    }

    public int Index { get; }
    public HostSpec Spec { get; }
    public string Name => Spec.Name;
    public MachineMemory Machine { get; }
    public Host Hv { get; }
    public XlToolstack Toolstack { get; }
    public BalloonMonitor Balloons { get; }
    public CreateQueue Creates { get; }
    public DomainRecord Dom0 { get; }
    public IPolicy? Policy { get; }
    /// <summary>The fewest free frames seen after any event.</summary>
    public long FreeMin { get; set; }
    /// <summary>Whether the host's accounting added up after every event.</summary>
    public bool AccountingHeld { get; set; } = true;
    /// <summary>
    /// In maintenance mode since an evacuate action: neither evacuations of other hosts nor the balancer send guests
    /// here, until a migrate or restore action names it with to: (the administrator brought it back).
    /// </summary>
    public bool InMaintenance { get; set; }
    /// <summary>Idle scrubbing owed but not yet done, in pages (fractions carried between ticks).</summary>
    public double ScrubCredit { get; set; }
}
