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
                if (!_creates.IsWaiting(r)) _creates.Start(r, now);
            return;
        }
        var target = _records.Find(r => r.Name == a.Domain || (r.Spec is null && a.Domain == "dom0"));
        if (target is null) return;
        switch (a.Action)
        {
            case ActionKind.Destroy: _toolstack.Destroy(target, now); break;
            case ActionKind.Restart: _toolstack.Restart(target, now, _creates); break;
            case ActionKind.Save: _toolstack.Save(target, now); break;
            case ActionKind.Restore: _creates.StartRestore(target, now); break;
            case ActionKind.Migrate: _creates.StartMigration(target, now); break;
            case ActionKind.MemSet: _toolstack.MemSet(target, a.MemoryBytes ?? 0); break;
            case ActionKind.MemMax: _toolstack.MemMax(target, a.MemoryBytes ?? 0); break;
            case ActionKind.PagingTarget: _toolstack.PagingTarget(target, a.MemoryBytes ?? 0); break;
            case ActionKind.HotAdd: _toolstack.Hotplug(target, a.MemoryBytes ?? 0); break;
            case ActionKind.HotRemove: _toolstack.Hotplug(target, -(a.MemoryBytes ?? 0)); break;
        }
    }

    // One decision of the policy daemon, its actions carried out by the toolstack as squeezed or MOM would.
    private void Decide()
    {
        var snapshot = SnapshotBuilder.Build(_hv, _records, _clock.NowNs);
        _snapshots?.Add(snapshot);
        if (_policy is null) return;
        var actions = _policy.Decide(snapshot);
        _policyLog.Decisions++;
        foreach (var a in actions)
        {
            var r = _records.Find(x => x.Name == a.Domain);
            bool ok = a.Kind switch
            {
                PolicyActionKind.MemSet when r is not null => _toolstack.MemSet(r, PageSize.ToBytes((long)a.Value)),
                PolicyActionKind.MarkUncooperative when r is not null => _toolstack.MarkUncooperative(r),
                PolicyActionKind.HotAdd when r is not null => _toolstack.Hotplug(r, PageSize.ToBytes((long)a.Value)),
                PolicyActionKind.PagingTarget when r is not null => _toolstack.PagingTarget(r, a.Value < 0 ? -1 : PageSize.ToBytes((long)a.Value)),
                PolicyActionKind.SharingScanRate => _toolstack.SharingScanRate(a.Value),
                _ => false,
            };
            _policyLog.Record(a.Kind, ok);
        }
    }
}
