using Memvisor.Machine;
using Memvisor.Sim.Engine;

namespace Memvisor.Sim.Toolstack;

/// <summary>
/// xl create as xl runs it: on Xen, a build the host cannot cover first asks dom0 to balloon down (autoballoon,
/// tools/xl/xl_vmcontrol.c freemem) and waits for the memory; the build then goes ahead, or fails when xl gives up.
/// A restore goes the same way, and so does the receiving side of a migration.
/// </summary>
internal sealed class CreateQueue(XlToolstack toolstack, MachineMemory machine, DomainRecord dom0)
{
    // libxl_wait_for_free_memory waits 10 s a try; freemem tries 3 times.
    private const long WaitNs = 30_000_000_000;

    private enum Build { Create, Restore, Migrate }

    // A migration waits on its destination's queue (this one) and is started by its source's toolstack.
    private readonly List<(DomainRecord Record, long NeededPages, long DeadlineNs, Build Build, XlToolstack Source, int? PostCopy)> _waiting = [];

    public bool IsWaiting(DomainRecord r) => _waiting.Exists(w => w.Record == r);

    /// <summary>Whether a migration waits here for this host's memory.</summary>
    public bool Migrating => _waiting.Exists(w => w.Build == Build.Migrate);

    /// <summary>Builds the domain now, or (dom0 asked to give memory back) once the memory is free.</summary>
    public void Start(DomainRecord r, long now)
    {
        if (toolstack.AutoballoonFor(r, dom0, out long needed)) _waiting.Add((r, needed, now + WaitNs, Build.Create, toolstack, null));
        else toolstack.Create(r, now);
    }

    /// <summary>Restores the saved domain now, or (dom0 asked to give memory back) once the memory is free; a restore already waiting is not asked again.</summary>
    public void StartRestore(DomainRecord r, long now, XlToolstack? savedBy = null)
    {
        if (IsWaiting(r)) return;
        savedBy ??= toolstack;
        if (toolstack.AutoballoonForRestore(r, savedBy, dom0, out long needed)) _waiting.Add((r, needed, now + WaitNs, Build.Restore, savedBy, null));
        else toolstack.Restore(r, now, savedBy);
    }

    /// <summary>
    /// Migrates the domain from <paramref name="source"/>'s host to this queue's now, or (this host's dom0 asked to
    /// give memory back for the incoming copy) once the memory is free.
    /// </summary>
    public void StartMigration(DomainRecord r, long now, XlToolstack source, int? postCopyAfterRounds = null)
    {
        if (IsWaiting(r)) return;
        if (toolstack.AutoballoonForMigration(r, source, dom0, out long needed)) _waiting.Add((r, needed, now + WaitNs, Build.Migrate, source, postCopyAfterRounds));
        else source.Migrate(r, now, toolstack, postCopyAfterRounds);
    }

    /// <summary>Builds each waiting domain once the host has its memory free, or when xl gives up waiting (the build then fails).</summary>
    public void Step(long now)
    {
        for (int i = 0; i < _waiting.Count; i++)
        {
            var (r, needed, deadline, build, source, postCopy) = _waiting[i];
            if (machine.FreeFrames < needed && now < deadline) continue;
            _waiting.RemoveAt(i--);
            if (build == Build.Restore) toolstack.Restore(r, now, source);
            // A guest that left the source host while this migration waited (moved elsewhere, destroyed, saved) is not
            // migrated from there: its domid there may name another domain by now.
            else if (build == Build.Migrate && (r.HostIndex != source.Index || r.State != DomainState.Running))
                source.Hv.Events.Add("migrate", r.Name, "A migration that waited for free memory is dropped: the guest is no longer running on this host.");
            else if (build == Build.Migrate) source.Migrate(r, now, toolstack, postCopy);
            else toolstack.Create(r, now);
        }
    }
}
