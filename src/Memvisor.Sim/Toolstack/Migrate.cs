using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.Migration;
using Memvisor.Hypervisor.Personalities;
using Memvisor.Machine.Frames;
using Memvisor.Seam;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Sim.Toolstack;

// xl migrate as a timeline action (tools/xl/xl_migrate.c): a live migration over the host's link. Until scenarios
// have several hosts the destination is the same host, as `xl migrate DOMAIN localhost` does.
public sealed partial class XlToolstack
{
    private readonly List<(DomainRecord Record, LiveMigration Migration)> _migrations = [];

    /// <summary>The link migrations go over (host.link).</summary>
    public LinkSpec Link { get; set; } = new();

    /// <summary>
    /// xl migrate: starts a live migration of the running instance; its guest keeps running while the pre-copy
    /// rounds go, stepped with the simulation. False (recorded) if it is not running or the hypervisor refused it.
    /// </summary>
    public bool Migrate(DomainRecord r, long nowNs)
    {
        if (r.Domain is not { } d || r.State != DomainState.Running)
        {
            Hv.Refusals.Record(r.Domain?.DomId ?? DomIds.Invalid, r.Name, "migrate", XenErrno.ESRCH, RefusalCause.NotRunning, 0, 0);
            return false;
        }
        // QEMU sends a zero page as a flag (migration/ram.c, save_zero_page); Xen's stream sends every page whole.
        var options = new MigrationOptions
        {
            BandwidthBytesPerSecond = Link.BandwidthBytesPerSecond, LatencyNs = Link.LatencyNs,
            ZeroPageDetection = Hv.Personality.Kind == HypervisorKind.Kvm,
        };
        var errno = Hv.StartMigration(d.DomId, Hv, options, out var m);
        (r.Migrations ??= []).Add(new MigrationRecord(nowNs, m));
        if (errno != XenErrno.Ok || m is null) return false;
        _migrations.Add((r, m));
        return true;
    }

    /// <summary>
    /// The receiving xl builds the domain through its create path (xl migrate-receive restores from the stream), so on
    /// Xen a destination that cannot hold the domain asks dom0 for the difference first; true if it did (the caller
    /// waits, then migrates).
    /// </summary>
    internal bool AutoballoonForMigration(DomainRecord r, DomainRecord dom0, out long neededPages)
    {
        neededPages = 0;
        // A domain already migrating is refused by the hypervisor: dom0 is not asked for memory for it.
        if (r.Domain is not { } d || r.State != DomainState.Running || d.MigratingOut) return false;
        neededPages = Hv.MigrationPagesNeeded(d.DomId, Hv);
        return neededPages > 0 && Autoballoon(neededPages, dom0);
    }

    /// <summary>Sends what each migration's link carries in <paramref name="dtNs"/>; a finished one hands its instance the destination domain.</summary>
    public void StepMigrations(long dtNs)
    {
        if (_migrations.Count == 0) return;
        foreach (var (r, m) in _migrations)
        {
            m.Step(dtNs);
            if (m.Phase != MigrationPhase.Done) continue;
            var d = m.Destination;
            r.Domain = d;
            r.DomId = d.DomId;
            ConnectDisplay(d);
        }
        _migrations.RemoveAll(x => x.Migration.Phase != MigrationPhase.PreCopy);
    }
}
