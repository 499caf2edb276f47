using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Tiers;
using Memvisor.Machine.Lanes;
using Memvisor.Machine.Tiers;
using Memvisor.Seam;

namespace Memvisor.Hypervisor;

// Moving a guest page between memory nodes, as a hypervisor's tiering or NUMA balancing does (RAMinate and HMvisor in
// Xen, ESX's NUMA page migration, Linux's migrate_pages on a KVM guest's memory): a frame on the other node takes a
// copy of the bytes, the p2m points at it, the old frame goes back to the heap, and each vCPU's translations are shot
// down. Translations here hold gfns, so none can go stale; the shootdown is counted and costed.
public sealed partial class Host
{
    internal PageMigrationStats MigrationCounters;
    private readonly byte[] _movedPage = new byte[Memvisor.Machine.Frames.PageSize.Bytes];
    public PageMigrationStats PageMigrations => MigrationCounters;

    /// <summary>
    /// Moves domain <paramref name="domid"/>'s page at <paramref name="gfn"/> to memory node <paramref name="node"/>.
    /// Refused (and counted) for a page that is not the domain's own RAM (shared, paged out, not populated, a grant
    /// mapping of another's page), a page another domain has mapped through a grant or that a PV domain's tables
    /// reference or type (they hold machine frames), a domain still arriving by post-copy, and a node with no free
    /// frame. A page already there is left as it is.
    /// </summary>
    public XenErrno MigratePage(ushort domid, ulong gfn, int node) => MigratePage(domid, gfn, node, shootdown: true, quiet: false);

    /// <summary>Whether <paramref name="d"/>'s page at <paramref name="gfn"/> could move to another node (what <see cref="MigratePage(ushort, ulong, int, bool, bool)"/> would not refuse but for room).</summary>
    internal bool IsMovable(Domain d, ulong gfn)
    {
        if (d.IsPv || d.Incoming || gfn >= d.P2m.Capacity || d.P2m.Get(gfn) is not { Type: P2mType.Ram } e) return false;
        ref var f = ref Machine.Frames[e.Mfn];
        return !Grants.IsMapped(e.Mfn) && f.RefCount == 0 && f.TypeCount == 0;
    }

    /// <param name="shootdown">False for a move in a batch whose caller shoots the translations down once for all (<see cref="ShootDown"/>), as Linux's migrate_pages and a tiering scan batch their flushes.</param>
    /// <param name="quiet">For a page of a batch (migratepages, a tiering scan): a page that stays is counted, not logged as a refusal of its own.</param>
    internal XenErrno MigratePage(ushort domid, ulong gfn, int node, bool shootdown, bool quiet)
    {
        _quietMove = quiet;
        const string call = "migrate_page";
        Turn.Take();
        if (!TryGetDomain(domid, call, 0, out var d, out var missing)) return missing;
        if ((uint)node >= (uint)Machine.Nodes.Count) return RefuseMove(d, call, XenErrno.EINVAL, RefusalCause.BadConfiguration, node);
        var e = gfn < d.P2m.Capacity ? d.P2m.Get(gfn) : P2mEntry.Invalid;
        // A PV domain's tables and its lazy-MMU queue name machine frames: Xen never moves a PV guest's memory.
        if (d.IsPv) return RefuseMove(d, call, XenErrno.EPERM, RefusalCause.NotPermitted, (long)Math.Min(gfn, long.MaxValue));
        if (e.Type != P2mType.Ram || d.Incoming) return RefuseMove(d, call, XenErrno.EINVAL, RefusalCause.GfnNotPopulated, (long)Math.Min(gfn, long.MaxValue));
        ref var old = ref Machine.Frames[e.Mfn];
        if (Grants.IsMapped(e.Mfn) || old.RefCount != 0 || old.TypeCount != 0)
            return RefuseMove(d, call, XenErrno.EBUSY, RefusalCause.PageReferenced, (long)gfn);
        int from = Machine.NodeOf(e.Mfn);
        if (from == node) return XenErrno.Ok;
        if (!Machine.TryAllocateOn(node, 0, d.DomId, out uint mfn)) return RefuseMove(d, call, XenErrno.ENOMEM, RefusalCause.OutOfMemory, 1);
        // The bytes go with the page: a handle is shared, a page of private bytes (one frame's own) is copied.
        var content = old.Content;
        if (content.IsPrivate)
        {
            Machine.ReadFrame(e.Mfn, _movedPage);
            Machine.WriteFrame(mfn, _movedPage);
        }
        else
        {
            Machine.Contents.AddRef(content);
            Machine.SetContent(mfn, content);
        }
        uint oldMfn = e.Mfn;
        // The mapping keeps its accessed and dirty flags: the paging clock and the tiering scanner still see the page's history.
        d.P2m.Set(gfn, new P2mEntry(P2mEntry.Ram(mfn).Raw | (e.Raw & P2mEntry.HardwareBits)));
        M2p[mfn] = (uint)gfn;
        M2p[oldMfn] = P2m.M2p.Invalid;
        Machine.Free(oldMfn, 0);
        MarkDirty(d, gfn);
        double copy = CopyNs(from, node);
        d.Counters.HypervisorNs += copy;
        MigrationCounters.HypervisorNs += copy;
        MigrationCounters.Migrated++;
        if (IsFaster(node, from)) MigrationCounters.Promoted++;
        else if (IsFaster(from, node)) MigrationCounters.Demoted++;
        if (shootdown) ShootDown(d);
        return XenErrno.Ok;
    }

    /// <summary>Shoots down every vCPU's translations of the domain's moved pages: counted and costed, and its vCPUs wait through it.</summary>
    internal void ShootDown(Domain d)
    {
        int vcpus = Math.Max(1, d.Config.Vcpus);
        double ns = vcpus * Costs.TlbShootdownNs;
        d.Counters.HypervisorNs += ns;
        d.PendingStallNs += ns;
        MigrationCounters.Shootdowns += vcpus;
        MigrationCounters.HypervisorNs += ns;
    }

    /// <summary>
    /// Moves every page of the domain's own RAM that is not on <paramref name="node"/> there, as Linux's migratepages
    /// does to a KVM guest's QEMU process (migrate_pages(2)); pages that cannot move stay. Returns how many moved.
    /// </summary>
    public long MigrateDomainPages(ushort domid, int node, out long refused)
    {
        const string call = "migratepages";
        refused = 0;
        Turn.Take();
        if (!TryGetDomain(domid, call, 0, out var d, out _)) return 0;
        // The request as a whole: a node this host lacks, a PV domain or one still arriving is refused once.
        if ((uint)node >= (uint)Machine.Nodes.Count || d.IsPv || d.Incoming)
        {
            RefuseMove(d, call, XenErrno.EINVAL, RefusalCause.NotPermitted, node);
            return 0;
        }
        var gfns = new List<ulong>();
        d.P2m.ForEachPresent((gfn, e) =>
        {
            if (e.Type == P2mType.Ram && Machine.NodeOf(e.Mfn) != node) gfns.Add(gfn);
        });
        long moved = 0;
        for (int i = 0; i < gfns.Count; i++)
        {
            var err = MigratePage(domid, gfns[i], node, shootdown: false, quiet: true);
            if (err == XenErrno.Ok) moved++;
            else refused++;
            // A full node ends the batch: the rest stay where they are (migrate_pages(2) returns what it could not move).
            if (err == XenErrno.ENOMEM)
            {
                refused += gfns.Count - i - 1;
                MigrationCounters.Refused += gfns.Count - i - 1;
                break;
            }
        }
        // One shootdown for the batch, as migrate_pages flushes once for the pages it unmapped.
        if (moved > 0) ShootDown(d);
        return moved;
    }

    // A page's copy: a core copies at page_copy_ns unless a node's bandwidth is lower, and an NVMe node adds its
    // device read (source) or write (destination).
    private double CopyNs(int from, int to)
    {
        if (Machine.Tiers is not { } t) return Costs.PageCopyNs;
        double ns = Math.Max(Costs.PageCopyNs, 4096e9 / Math.Min(t[from].Costs.BandwidthBytesPerSecond, t[to].Costs.BandwidthBytesPerSecond));
        if (t[from].Kind == MemoryKind.Nvme) ns += t[from].Costs.ReadNs;
        if (t[to].Kind == MemoryKind.Nvme) ns += t[to].Costs.WriteNs;
        return ns;
    }

    private bool IsFaster(int a, int b) =>
        Machine.Tiers is { } t && t[a].Costs.AccessNs(t[a].Kind, false) < t[b].Costs.AccessNs(t[b].Kind, false);

    private bool _quietMove;

    private XenErrno RefuseMove(Domain d, string call, XenErrno errno, RefusalCause cause, long requested)
    {
        MigrationCounters.Refused++;
        if (_quietMove) return errno;
        d.Counters.Refusals++;
        return Refusals.Record(d.DomId, d.Name, call, errno, cause, requested, Machine.FreeFrames);
    }
}
