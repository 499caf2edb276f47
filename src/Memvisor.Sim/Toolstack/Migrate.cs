using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.Migration;
using Memvisor.Hypervisor.Personalities;
using Memvisor.Machine.Frames;
using Memvisor.Seam;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Sim.Toolstack;

// xl migrate as a timeline action (tools/xl/xl_migrate.c): a live migration to another host's xl (migrate-receive),
// or to this host as `xl migrate DOMAIN localhost` does, over the two hosts' links.
public sealed partial class XlToolstack
{
    private readonly List<(DomainRecord Record, LiveMigration Migration, XlToolstack Destination)> _migrations = [];

    /// <summary>The link migrations go over (host.link).</summary>
    public LinkSpec Link { get; set; } = new();

    /// <summary>The host's place in the scenario's hosts (0 for the first): a record migrated here runs on it.</summary>
    public int Index { get; init; }

    /// <summary>Migrations under way from this host.</summary>
    public int MigrationsRunning => _migrations.Count;

    /// <summary>Whether a migration of the instance is under way from this host.</summary>
    public bool IsMigrating(DomainRecord r) => _migrations.Exists(m => m.Record == r);

    /// <summary>
    /// The link a migration from this host to <paramref name="destination"/> goes over: the slower of the two hosts'
    /// bandwidths and the longer of their latencies (one link per migration; each host's link is its own NIC).
    /// </summary>
    public LinkSpec LinkTo(XlToolstack destination) => ReferenceEquals(destination, this) ? Link
        : new LinkSpec(Math.Min(Link.BandwidthBytesPerSecond, destination.Link.BandwidthBytesPerSecond), Math.Max(Link.LatencyNs, destination.Link.LatencyNs));

    /// <summary>
    /// xl migrate: starts a live migration of the running instance to <paramref name="destination"/>'s host (this one
    /// when null); its guest keeps running while the pre-copy rounds go, stepped with the simulation. False (recorded)
    /// if it is not running or the hypervisor refused it. With <paramref name="postCopyAfterRounds"/> the guest moves
    /// after that many pre-copy rounds and runs on the destination while its remaining pages follow.
    /// </summary>
    public bool Migrate(DomainRecord r, long nowNs, XlToolstack? destination = null, int? postCopyAfterRounds = null)
    {
        destination ??= this;
        if (r.Domain is not { } d || r.State != DomainState.Running)
        {
            Hv.Refusals.Record(r.Domain?.DomId ?? DomIds.Invalid, r.Name, "migrate", XenErrno.ESRCH, RefusalCause.NotRunning, 0, 0);
            return false;
        }
        // QEMU sends a zero page as a flag (migration/ram.c, save_zero_page); Xen's stream sends every page whole.
        var link = LinkTo(destination);
        var options = new MigrationOptions
        {
            BandwidthBytesPerSecond = link.BandwidthBytesPerSecond, LatencyNs = link.LatencyNs,
            ZeroPageDetection = Hv.Personality.Kind == HypervisorKind.Kvm,
            PostCopyAfterRounds = postCopyAfterRounds,
        };
        var errno = Hv.StartMigration(d.DomId, destination.Hv, options, out var m);
        (r.Migrations ??= []).Add(new MigrationRecord(nowNs, m) { FromHost = Index, ToHost = destination.Index });
        if (errno != XenErrno.Ok || m is null) return false;
        _migrations.Add((r, m, destination));
        return true;
    }

    /// <summary>
    /// The receiving xl (this one) builds the domain through its create path (xl migrate-receive restores from the
    /// stream), so on Xen a destination that cannot hold the domain <paramref name="source"/> sends asks its dom0 for
    /// the difference first; true if it did (the caller waits, then migrates).
    /// </summary>
    internal bool AutoballoonForMigration(DomainRecord r, XlToolstack source, DomainRecord dom0, out long neededPages)
    {
        neededPages = 0;
        // A domain already migrating is refused by the hypervisor: dom0 is not asked for memory for it.
        if (r.Domain is not { } d || r.State != DomainState.Running || d.MigratingOut) return false;
        neededPages = source.Hv.MigrationPagesNeeded(d.DomId, Hv);
        return neededPages > 0 && Autoballoon(neededPages, dom0);
    }

    /// <summary>Sends what each migration's link carries in <paramref name="dtNs"/>; one that finished, or switched to post-copy, hands its instance the destination domain.</summary>
    public void StepMigrations(long dtNs)
    {
        if (_migrations.Count == 0) return;
        foreach (var (r, m, destination) in _migrations)
        {
            m.Step(dtNs);
            // The guest moves with the stop-and-copy, or with the switch to post-copy (its pages follow it).
            if (m.Phase is not (MigrationPhase.Done or MigrationPhase.PostCopy) || ReferenceEquals(r.Domain, m.Destination)) continue;
            var d = m.Destination;
            // The source domain went with the stop-and-copy: its backends forget it, the destination's connect.
            ForgetDevices(r.DomId);
            r.Domain = d;
            r.DomId = d.DomId;
            r.HostIndex = destination.Index;
            destination.ConnectDisplay(d);
            destination.ResumeDevices(r, d);
        }
        _migrations.RemoveAll(x => x.Migration.Phase is MigrationPhase.Done or MigrationPhase.Failed);
    }
}
