using Memvisor.Guest.Kernel;
using Memvisor.Guest.Workloads;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Machine;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Policy;
using Memvisor.Policy.Snapshot;
using Memvisor.Sim.Metrics;
using Memvisor.Sim.Summary;
using Memvisor.Sim.Policies;
using Memvisor.Sim.Scenarios;
using Memvisor.Sim.Toolstack;
using Memvisor.Hypervisor;
using Memvisor.Seam;

namespace Memvisor.Sim.Engine;

// The timeline's toolstack actions and the policy daemon's decisions, as the simulation carries them out.
public sealed partial class Simulation
{
    private void Apply(ActionSpec a)
    {
        long now = _clock.NowNs;
        // A create names a domain of the scenario (all its instances not yet built) or one instance of it (web-3).
        if (a.Action == ActionKind.Create)
        {
            foreach (var r in _records.Where(r => (r.Spec?.Name == a.Domain || (r.Spec is not null && r.Name == a.Domain)) && r.State == DomainState.NotCreated))
                if (!_hosts[r.HostIndex].Creates.IsWaiting(r)) _hosts[r.HostIndex].Creates.Start(r, now);
            return;
        }
        if (a.Action == ActionKind.Evacuate)
        {
            var from = _hosts[_scenario.HostIndex(a.Host)];
            from.InMaintenance = true;
            _evacuations.Start(from, a.To is null ? null : _hosts[_scenario.HostIndex(a.To)], _records, now);
            _evacuations.Step(now, _hosts, _records);
            return;
        }
        var target = _records.Find(r => r.Name == a.Domain || (r.Spec is null && a.Domain == "dom0"));
        if (target is null) return;
        // The xl of the host the domain is on carries the action out.
        var host = _hosts[target.HostIndex];
        var xl = host.Toolstack;
        switch (a.Action)
        {
            case ActionKind.Destroy: xl.Destroy(target, now); break;
            case ActionKind.Restart: xl.Restart(target, now, host.Creates); break;
            case ActionKind.Save: xl.Save(target, now); break;
            case ActionKind.Restore: Destination(a, target).Creates.StartRestore(target, now, xl); break;
            case ActionKind.Migrate when _hosts.Exists(h => h.Creates.IsWaiting(target)):
                // One move at a time: a guest waiting for a destination's memory is refused another migration, as one
                // already migrating is by the hypervisor (EBUSY: its log-dirty mode is taken).
                host.Hv.Refusals.Record(target.DomId, target.Name, "migrate", XenErrno.EBUSY, RefusalCause.NotPermitted, 0, 0);
                (target.Migrations ??= []).Add(new MigrationRecord(now, null) { FromHost = target.HostIndex, ToHost = a.To is null ? target.HostIndex : _scenario.HostIndex(a.To) });
                break;
            case ActionKind.Migrate: Destination(a, target).Creates.StartMigration(target, now, xl, a.PostCopyAfterRounds); break;
            case ActionKind.MemSet: xl.MemSet(target, a.MemoryBytes ?? 0); break;
            case ActionKind.MemMax: xl.MemMax(target, a.MemoryBytes ?? 0); break;
            case ActionKind.PagingTarget: xl.PagingTarget(target, a.MemoryBytes ?? 0); break;
            case ActionKind.HotAdd: xl.Hotplug(target, a.MemoryBytes ?? 0); break;
            case ActionKind.HotRemove: xl.Hotplug(target, -(a.MemoryBytes ?? 0)); break;
            case ActionKind.MigratePages when target.State == DomainState.Running && target.Domain is { } dom:
            {
                long moved = host.Hv.MigrateDomainPages(dom.DomId, a.Node ?? 0, out long stayed);
                host.Hv.Events.Add("migratepages", target.Name, $"{moved} page(s) of {target.Name} moved to node {a.Node}{(stayed == 0 ? "" : $", {stayed} could not move")}.");
                break;
            }
            case ActionKind.MigratePages:
                host.Hv.Refusals.Record(target.DomId, target.Name, "migratepages", XenErrno.ESRCH, RefusalCause.NotRunning, 0, 0);
                break;
        }
    }

    // Where a migrate or restore sends the guest: the host to: names (which leaves maintenance mode), or its own.
    private HostRuntime Destination(ActionSpec a, DomainRecord r)
    {
        if (a.To is null) return _hosts[r.HostIndex];
        var to = _hosts[_scenario.HostIndex(a.To)];
        to.InMaintenance = false;
        return to;
    }

    // One decision of each host's policy daemon, its actions carried out by that host's toolstack as squeezed or MOM would.
    private void Decide()
    {
        foreach (var h in _hosts)
        {
            var records = OnHost(h);
            var snapshot = SnapshotBuilder.Build(h.Hv, records, _clock.NowNs);
            // run --snapshots keeps the first host's (a snapshot names no host).
            if (h.Index == 0) _snapshots?.Add(snapshot);
            if (h.Policy is null) continue;
            var actions = h.Policy.Decide(snapshot);
            _policyLog.Decisions++;
            foreach (var a in actions)
            {
                var r = records.Find(x => x.Name == a.Domain);
                var xl = h.Toolstack;
                bool ok = a.Kind switch
                {
                    PolicyActionKind.MemSet when r is not null => xl.MemSet(r, PageSize.ToBytes((long)a.Value)),
                    PolicyActionKind.MarkUncooperative when r is not null => xl.MarkUncooperative(r),
                    PolicyActionKind.HotAdd when r is not null => xl.Hotplug(r, PageSize.ToBytes((long)a.Value)),
                    PolicyActionKind.PagingTarget when r is not null => xl.PagingTarget(r, a.Value < 0 ? -1 : PageSize.ToBytes((long)a.Value)),
                    PolicyActionKind.SharingScanRate => xl.SharingScanRate(a.Value),
                    _ => false,
                };
                _policyLog.Record(a.Kind, ok);
            }
        }
    }
}
