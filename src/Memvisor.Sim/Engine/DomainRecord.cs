using Memvisor.Guest.Kernel;
using Memvisor.Hypervisor.Domains;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Sim.Engine;

/// <summary>A domain's life as xl list would show it: not built yet, running, destroyed by an action, not built (a create that failed), crashed by the hypervisor and destroyed (xl.cfg on_crash=destroy), or saved to an image (xl save) and not restored yet.</summary>
public enum DomainState { NotCreated, Running, Destroyed, Failed, Crashed, Saved }

/// <summary>One domain instance of a scenario across its life: its spec, the hypervisor's domain and the guest model running in it.</summary>
public sealed class DomainRecord(string name, DomainSpec? spec, int column)
{
    public string Name { get; } = name;
    /// <summary>The scenario's spec; null for dom0.</summary>
    public DomainSpec? Spec { get; } = spec;
    /// <summary>Position of this instance in the scenario (0 is dom0); it picks the guest's random stream.</summary>
    public int Column { get; } = column;
    public DomainState State { get; set; }
    /// <summary>The host the instance runs on (or ran on last), by its place in the scenario's hosts.</summary>
    public int HostIndex { get; set; }
    public Domain? Domain { get; set; }
    public GuestKernel? Guest { get; set; }
    public long CreatedAtNs { get; set; } = -1;
    public long DestroyedAtNs { get; set; } = -1;
    public ushort DomId { get; set; }
    /// <summary>Values kept when the domain is destroyed (destroy empties the domain), for the summary.</summary>
    public long FinalTotPages { get; set; }
    /// <summary>Times the domain was built again after a restart action destroyed it; the figures are the last instance's.</summary>
    public int Restarts { get; set; }
    public long FinalMaxPages { get; set; }
    /// <summary>What a save left for the restore: the configuration, store keys and the guest's connection; null unless saved now.</summary>
    public Hypervisor.Save.SavedDomain? Saved { get; set; }
    /// <summary>Live migrations of this instance, in the order they were started; null if it was never migrated.</summary>
    public List<MigrationRecord>? Migrations { get; set; }
    /// <summary>Saves and restores of this instance, null if it was never saved.</summary>
    public SaveRestoreTally? SaveRestore { get; set; }
    public long FinalTargetPages { get; set; }

    /// <summary>tot_pages now, or as it was when the domain was destroyed.</summary>
    public long TotPages => State == DomainState.Running ? Domain!.TotPages : FinalTotPages;
    /// <summary>max_pages now, or as it was when the domain was destroyed.</summary>
    public long MaxPages => State == DomainState.Running ? Domain!.MaxPages : FinalMaxPages;
    /// <summary>The balloon target now, or as it was when the domain was destroyed.</summary>
    public long TargetPages => State == DomainState.Running ? Domain!.TargetPages : FinalTargetPages;
}
