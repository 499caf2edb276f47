using Memvisor.Sim.Engine;

namespace Memvisor.Sim.Toolstack;

/// <summary>
/// Host evacuation (XenServer's xe host-evacuate, vSphere's maintenance mode): every guest running on a host is
/// migrated off it, one after another as a script of xl migrate calls does, so each has the link to itself. Each
/// goes to the named host, or else to the other host with the most free memory when its turn comes; a migration
/// the destination refuses leaves that guest where it is, and the next one goes.
/// </summary>
internal sealed class Evacuations
{
    private sealed class Evacuation(HostRuntime from, HostRuntime? to, Queue<DomainRecord> left)
    {
        public HostRuntime From { get; } = from;
        public HostRuntime? To { get; } = to;
        public Queue<DomainRecord> Left { get; } = left;
        public DomainRecord? Moving { get; set; }
    }

    private readonly List<Evacuation> _running = [];

    /// <summary>Queues every guest running on <paramref name="from"/> now, in the scenario's order.</summary>
    public void Start(HostRuntime from, HostRuntime? to, IReadOnlyList<DomainRecord> records, long nowNs)
    {
        var left = new Queue<DomainRecord>();
        foreach (var r in records.Where(r => r.Spec is not null && r.HostIndex == from.Index && r.State == DomainState.Running)) left.Enqueue(r);
        from.Hv.Events.Add("evacuate", "", $"Evacuating host '{from.Name}': {left.Count} guest(s) to migrate{(to is null ? "" : $" to '{to.Name}'")}.");
        _running.Add(new Evacuation(from, to, left));
    }

    /// <summary>Starts the next guest's migration of each evacuation whose previous one has ended.</summary>
    public void Step(long nowNs, IReadOnlyList<HostRuntime> hosts, IReadOnlyList<DomainRecord> records)
    {
        if (_running.Count == 0) return;
        foreach (var e in _running)
        {
            // The one before is still on its way (migrating, or waiting for the destination's memory) and still on this host.
            if (e.Moving is { } m && m.HostIndex == e.From.Index && OnItsWay(m, e.From, hosts)) continue;
            e.Moving = null;
            while (e.Left.TryDequeue(out var r))
            {
                // A guest destroyed, saved or already moved since the evacuation began stays out of it, and one being moved
                // by another action (migrating, or waiting to) is left to that move.
                if (r.State != DomainState.Running || r.HostIndex != e.From.Index) continue;
                // A guest still arriving here by post-copy goes once its pages have all come: it waits at the back.
                if (r.Domain is { Incoming: true })
                {
                    e.Left.Enqueue(r);
                    e.Moving = r;
                    break;
                }
                if (OnItsWay(r, e.From, hosts)) continue;
                var to = e.To ?? MostFree(hosts, e.From, r);
                if (to is null) break;
                // A guest the destination cannot take stays, as xe host-evacuate refuses a VM it cannot move.
                if (Scenarios.ScenarioChecks.MoveProblem(r.Spec!, e.From.Spec, to.Spec) is { } why)
                {
                    e.From.Hv.Events.Add("evacuate", r.Name, $"{r.Name} stays on '{e.From.Name}', {why}.");
                    continue;
                }
                to.Creates.StartMigration(r, nowNs, e.From.Toolstack);
                if (OnItsWay(r, e.From, hosts))
                {
                    e.Moving = r;
                    break;
                }
            }
        }
        _running.RemoveAll(e => e.Moving is null && e.Left.Count == 0);
    }

    // Whether the guest is migrating from the host, or waiting in some host's create queue to.
    // Migrating from any host (a post-copy migration is its source's until the last page arrives), or waiting for memory.
    private static bool OnItsWay(DomainRecord r, HostRuntime from, IReadOnlyList<HostRuntime> hosts) =>
        hosts.Any(h => h.Toolstack.IsMigrating(r) || h.Creates.IsWaiting(r));

    /// <summary>Whether an evacuation is under way (the balancer waits for it).</summary>
    public bool Running => _running.Count > 0;

    // The other host with the most free frames now (the first of equals), never one in maintenance mode.
    private static HostRuntime? MostFree(IReadOnlyList<HostRuntime> hosts, HostRuntime from, DomainRecord r)
    {
        HostRuntime? best = null, any = null;
        foreach (var h in hosts)
        {
            if (h == from || h.InMaintenance) continue;
            if (any is null || h.Machine.FreeFrames > any.Machine.FreeFrames) any = h;
            // Among the hosts that can take the guest.
            if (Scenarios.ScenarioChecks.MoveProblem(r.Spec!, from.Spec, h.Spec) is null && (best is null || h.Machine.FreeFrames > best.Machine.FreeFrames)) best = h;
        }
        // None can: the most free is named, and the guest stays with an event saying why.
        return best ?? any;
    }
}
