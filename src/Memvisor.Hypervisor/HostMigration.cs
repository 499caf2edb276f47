using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.Migration;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Save;
using Memvisor.Machine.Content;
using Memvisor.Seam;

namespace Memvisor.Hypervisor;

// xl migrate: the source host's half (log-dirty, the pre-copy in LiveMigration) and the destination's (the domain
// built and its memory claimed first, pages received, the guest taken over).
public sealed partial class Host
{
    /// <summary>
    /// Starts a live migration of <paramref name="domid"/> to <paramref name="destination"/> (which may be this host):
    /// the destination builds the domain and claims a frame for every page the source holds (as xl's claim_mode does
    /// before a restore), or the migration is refused (ENOMEM) with nothing changed; the source enters log-dirty mode.
    /// Refused like a save for dom0 and for state the stream does not carry, and for a domain already in log-dirty
    /// mode (a migration under way). <see cref="MigrationOptions.PostCopyAfterRounds"/> is for KVM hosts only.
    /// </summary>
    public XenErrno StartMigration(ushort domid, Host destination, MigrationOptions options, out LiveMigration? migration)
    {
        const string call = "migrate";
        migration = null;
        if (!TryGetDomain(domid, call, 0, out var d, out var missing)) return missing;
        var movable = CheckMovable(d, call);
        if (movable != XenErrno.Ok) return movable;
        if (d.Mmu is not { } mmu || mmu.LogDirty is not null) return Refusals.Record(domid, d.Name, call, XenErrno.EBUSY, RefusalCause.NotPermitted, 0, 0);
        if (!(options.BandwidthBytesPerSecond > 0) || options.MaxIterations < 1 || options.PostCopyAfterRounds < 0 || options.PostCopyAfterRounds > options.MaxIterations)
            return Refusals.Record(domid, d.Name, call, XenErrno.EINVAL, RefusalCause.BadConfiguration, 0, 0);
        // Post-copy is QEMU's (migration/postcopy-ram.c): Xen's libxc, ESX's vMotion and Hyper-V migrate by pre-copy only.
        if (options.PostCopyAfterRounds is not null && (Personality.Kind != Personalities.HypervisorKind.Kvm || d.IsPv))
            return Refusals.Record(domid, d.Name, call, XenErrno.EOPNOTSUPP, RefusalCause.NotOnThisHypervisor, 0, 0);
        // The guest's tmem pools go with it (xc_tmem_save), so the destination must have tmem on.
        if (Tmem.HasPools(d) && !destination.Tmem.Options.Enabled)
            return Refusals.Record(domid, d.Name, call, XenErrno.EOPNOTSUPP, RefusalCause.NotOnThisHypervisor, 0, 0);
        long needed = MigrationPagesNeeded(d, destination, out var config);
        if (needed > destination.Machine.FreeFrames)
            return Refusals.Record(domid, d.Name, call, XenErrno.ENOMEM, RefusalCause.OutOfMemory, needed, destination.Machine.FreeFrames);
        var built = destination.Build(config, 0, out var target);
        if (built != XenErrno.Ok || target is null) return built;
        for (long gfn = 0; gfn < config.MemoryPages; gfn++) target.P2m.Set((ulong)gfn, P2mEntry.Invalid);
        target.P2m.Grow(d.P2m.Capacity);
        // The claim: a frame for each page the source holds, filled as its page arrives.
        bool claimed = true;
        // A Xen PoD domain's entries are populated as the first round reads them: they are claimed as pages.
        d.P2m.ForEachPresent((gfn, e) =>
        {
            if (e.Type == P2mType.PopulateOnDemand && d.Pod is null) target.P2m.Set(gfn, P2mEntry.PopulateOnDemand);
            else if (!e.IsGrantMap && claimed) claimed = destination.ReceivePage(target, gfn, ContentHandle.Zero, default);
        });
        if (!claimed) throw new InvalidOperationException("The destination's heap refused a frame its free count allowed; the buddy heap is inconsistent.");
        target.TargetPages = d.TargetPages;
        target.Incoming = true;
        d.MigratingOut = true;
        mmu.EnableLogDirty(d.P2m.Capacity);
        // Its tmem client is frozen until the migration ends: puts are refused (tmem.c's -EFROZEN), flushes and gets go on.
        Tmem.Freeze(d, true);
        migration = new LiveMigration(this, destination, d, target, options);
        return XenErrno.Ok;
    }

    /// <summary>The pages a migration of <paramref name="domid"/> would claim on <paramref name="destination"/> now (its frames and the domain's reserve); -1 if there is no such domain.</summary>
    public long MigrationPagesNeeded(ushort domid, Host destination) => Find(domid) is { } d ? MigrationPagesNeeded(d, destination, out _) : -1;

    private long MigrationPagesNeeded(Domain d, Host destination, out DomainConfig config)
    {
        long frames = destination.TmemImportPages(Tmem.PersistentPages(d));
        bool podCache = d.Pod is not null;
        d.P2m.ForEachPresent((_, e) => frames += e.Type is P2mType.Ram or P2mType.Shared or P2mType.PagedOut or P2mType.Compressed
            || (podCache && e.Type == P2mType.PopulateOnDemand) ? 1 : 0);
        config = destination.MovedConfig(d.Config, d.MaxPages);
        return HeldPagesFor(config, destination.Personality) + frames;
    }

    /// <summary>Whether the domain has frontswap pages in tmem (a post-copy stream does not carry them).</summary>
    internal bool HasFrontswapPages(Domain d) => Tmem.Pools.Any(p => p.DomId == d.DomId && p.Persistent && p.Pages > 0);

    /// <summary>A page of a migration arrives: it goes into a frame of the receiving domain's own (taken if it has none there) with its bytes, or its content handle when it is synthetic or zero. False if no frame could be had.</summary>
    internal bool ReceivePage(Domain d, ulong gfn, ContentHandle content, ReadOnlySpan<byte> bytes)
    {
        var e = d.P2m.Get(gfn);
        uint mfn = e.Mfn;
        if (e.Type != P2mType.Ram)
        {
            DropEntry(d, gfn);
            if (!Machine.TryAllocate(0, d.NodeFor(gfn), d.DomId, out mfn)) return false;
            MapFrame(d, gfn, mfn);
        }
        if (bytes.Length > 0) Machine.WriteFrame(mfn, bytes);
        else
        {
            Machine.Contents.AddRef(content);
            Machine.SetContent(mfn, content);
        }
        return true;
    }

    /// <summary>The stop-and-copy is done: the destination domain takes over the guest, which was paused for <paramref name="downtimeNs"/>.</summary>
    internal void CompleteMigration(Domain target, SavedDomain guest, long downtimeNs, IReadOnlyList<(ulong Gfn, int Level)> pvTables)
    {
        target.MaxPages = guest.MaxPages;
        target.P2m.Grow((ulong)guest.MaxPages);
        target.TargetPages = guest.TargetPages;
        target.Incoming = false;
        TakeOver(target, guest, pvTables);
        target.PendingStallNs += downtimeNs;
    }
}
