using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.Events;
using Memvisor.Hypervisor.Memory;
using Memvisor.Hypervisor.Mmu.LogDirty;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Paging;
using Memvisor.Hypervisor.Seam;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Hypervisor.Store;
using Memvisor.Hypervisor.Tmem;
using Memvisor.Machine;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;

namespace Memvisor.Hypervisor;

/// <summary>
/// The hypervisor's memory manager: owns machine memory and the m2p, builds and destroys domains, and serves the
/// memory_op hypercalls (see <see cref="MemoryOp"/>). Follows Xen's xen/common/domain.c and memory.c.
/// </summary>
public sealed class Hypervisor : IDisposable
{
    /// <summary>Machine memory Xen itself keeps per frame: 32-byte page_info plus 8-byte m2p entry, taken from the host at boot.</summary>
    public const int XenBytesPerFrame = 40;

    private readonly List<Domain> _domains = [];
    private readonly Dictionary<ushort, Domain> _byId = [];
    private ushort _nextDomId = 1;

    public Hypervisor(MachineMemory machine, CostModel costs, Func<long> now, OvercommitOptions? overcommit = null)
    {
        Machine = machine;
        Costs = costs;
        Now = now;
        Overcommit = overcommit ?? new OvercommitOptions();
        M2p = new M2p(machine.TotalFrames);
        Refusals = new RefusalLog(now);
        Events = new HostEventLog(now);
        MemoryOp = new MemoryOp(this);
        Sharing = new PageSharing(this, Overcommit.Sharing);
        Paging = new HypervisorPaging(this, Overcommit.Paging, Overcommit.Compression);
        Tmem = new TranscendentMemory(this, Overcommit.Tmem, Overcommit.Compression.Codec);
        BootPages = (machine.TotalFrames * XenBytesPerFrame + PageSize.Bytes - 1) / PageSize.Bytes;
        for (long i = 0; i < BootPages; i++)
        {
            if (!machine.TryAllocate(0, 0, DomIds.Xen, out uint mfn))
                throw new ArgumentException("The machine is too small to hold the hypervisor's own frame table.", nameof(machine));
            machine.Frames[mfn].Flags |= FrameFlags.XenHeap;
        }
    }

    public MachineMemory Machine { get; }
    public CostModel Costs { get; }
    public Func<long> Now { get; }
    public M2p M2p { get; }
    public RefusalLog Refusals { get; }
    public MemoryOp MemoryOp { get; }
    public HostEventLog Events { get; }
    public OvercommitOptions Overcommit { get; }
    public PageSharing Sharing { get; }
    public HypervisorPaging Paging { get; }
    public TranscendentMemory Tmem { get; }

    /// <summary>The store the toolstack and the guests talk through (xenstored's, kept beside the hypervisor here).</summary>
    public XenStore Store { get; } = new();

    /// <summary>Frames the hypervisor took at boot for its own frame table and m2p.</summary>
    public long BootPages { get; }

    /// <summary>Live domains in domid order.</summary>
    public IReadOnlyList<Domain> Domains => _domains;

    public Domain? Find(ushort domid) => _byId.GetValueOrDefault(domid);

    /// <summary>Frames for a domain's paging pool, as libxl sizes it (libxl_get_required_shadow_memory: 1 MiB per vCPU + 8 KiB per MiB of maxmem).</summary>
    public static long ReservePagesFor(DomainConfig config) =>
        config.IsDom0 ? 0 : 256L * config.Vcpus + 2 * PageSize.ToMiB(config.MaxPages);

    /// <summary>Builds a domain: takes its reserve, then populates all its memory (static) or reserves it (on-demand). All or nothing.</summary>
    public XenErrno CreateDomain(DomainConfig config, out Domain? domain)
    {
        domain = null;
        if (config.MemoryPages > config.MaxPages || config.MemoryPages < 0)
            return Refusals.Record(DomIds.Invalid, config.Name, "create", XenErrno.EINVAL, RefusalCause.BadConfiguration, config.MemoryPages, config.MaxPages);
        // Populate-on-demand and page sharing work on an HVM p2m; Xen refuses them for PV domains.
        if (config.Mmu.Mode == Mmu.MmuMode.Pv && (config.Allocation == AllocationMode.OnDemand || (config.Sharing && Sharing.Options.Enabled)))
            return Refusals.Record(DomIds.Invalid, config.Name, config.Allocation == AllocationMode.OnDemand ? "populate-on-demand" : "sharing", XenErrno.EOPNOTSUPP, RefusalCause.NeedsHvm, 0, 0);
        ushort domid = config.IsDom0 ? DomIds.Dom0 : _nextDomId;
        if ((!config.IsDom0 && domid >= DomIds.FirstReserved) || _byId.ContainsKey(domid))
            return Refusals.Record(domid, config.Name, "create", XenErrno.EINVAL, RefusalCause.NotPermitted, 0, 0);

        long needed = ReservePagesFor(config) + (config.Allocation == AllocationMode.Static ? config.MemoryPages : 0);
        if (needed > Machine.FreeFrames)
            return Refusals.Record(domid, config.Name, "create", XenErrno.ENOMEM, RefusalCause.OutOfMemory, needed, Machine.FreeFrames);

        int node = config.PreferredNode ?? NodeWithMostFreeMemory();
        var d = new Domain(domid, config, node, Overcommit.Paging.MruSize, Overcommit.Activity);
        if (!GrowReserve(d, ReservePagesFor(config)))
        {
            ReleaseReserve(d);
            return Refusals.Record(domid, config.Name, "create", XenErrno.ENOMEM, RefusalCause.OutOfMemory, needed, Machine.FreeFrames);
        }
        if (config.Allocation == AllocationMode.Static)
        {
            if (MemoryOp.PopulateRange(d, 0, config.MemoryPages) != XenErrno.Ok)
            {
                ReleaseAll(d);
                return Refusals.Record(domid, config.Name, "create", XenErrno.ENOMEM, RefusalCause.OutOfMemory, needed, Machine.FreeFrames);
            }
        }
        else
        {
            for (long gfn = 0; gfn < config.MemoryPages; gfn++)
                d.P2m.Set((ulong)gfn, P2mEntry.PopulateOnDemand);
        }
        d.Counters.HypervisorNs += Costs.DomainBuildNs;
        if (!config.IsDom0) _nextDomId++;
        Register(d);
        d.Mmu = Mmu.GuestMmu.Create(this, d, new DomainPort(this, d), config.Mmu);
        domain = d;
        return XenErrno.Ok;
    }

    /// <summary>Destroys a domain: its frames go back to the heap scrub-pending, its reserve is returned. dom0 cannot be destroyed.</summary>
    public XenErrno DestroyDomain(ushort domid)
    {
        if (!_byId.TryGetValue(domid, out var d))
            return Refusals.Record(domid, $"domain {domid}", "destroy", XenErrno.ESRCH, RefusalCause.NoSuchDomain, 0, 0);
        if (d.IsDom0)
            return Refusals.Record(domid, d.Name, "destroy", XenErrno.EPERM, RefusalCause.NotPermitted, 0, 0);
        d.IsDying = true;
        ReleaseAll(d);
        _byId.Remove(domid);
        _domains.Remove(d);
        Store.ReleaseDomain(domid);
        return XenErrno.Ok;
    }

    /// <summary>
    /// The toolstack's write of memory/target (xl mem-set): refused above max_pages, and for dom0 below its minimum.
    /// The guest's balloon moves toward it; nothing moves here.
    /// </summary>
    public XenErrno SetTarget(ushort domid, long pages)
    {
        const string call = "mem-set";
        if (!_byId.TryGetValue(domid, out var d))
            return Refusals.Record(domid, $"domain {domid}", call, XenErrno.ESRCH, RefusalCause.NoSuchDomain, pages, 0);
        if (pages > d.MaxPages)
            return Refusals.Record(domid, d.Name, call, XenErrno.EINVAL, RefusalCause.AboveMaxMem, pages, d.MaxPages);
        if (pages < d.Config.MinPages)
            return Refusals.Record(domid, d.Name, call, XenErrno.EPERM, RefusalCause.BelowDom0Minimum, pages, d.Config.MinPages);
        d.TargetPages = pages;
        Store.Write(StorePath(d, StoreKeys.Target), PageSize.ToKiB(pages));
        return XenErrno.Ok;
    }

    /// <summary>The host's memory as squeezed sees it, and whether it adds up.</summary>
    public HostAccounting Account()
    {
        long owned = 0, reserve = 0, compression = Tmem.CompressedFrames;
        foreach (var d in _domains)
        {
            owned += d.TotPages;
            reserve += d.ReservePages;
            compression += d.Compression?.Frames ?? 0;
        }
        return new HostAccounting(Machine.TotalFrames, Machine.FreeFrames, Machine.Scrubber.PendingFrames, owned,
            Sharing.SharedFrames, compression, Tmem.Frames, BootPages + reserve);
    }

    /// <summary>One step of the host's background mechanisms: the sharing scanner, the pager, and tmem giving memory back when the host runs short.</summary>
    public void Step(long dtNs)
    {
        Sharing.Step(dtNs);
        Paging.Step(dtNs);
        foreach (var d in _domains)
        {
            if (!d.IsDom0) d.StepActivity(dtNs);
            d.Vram?.Step(dtNs);
        }
        long shortBy = Overcommit.Tmem.ReservePages - Machine.FreeFrames;
        if (shortBy > 0) Tmem.EvictEphemeral(shortBy);
    }

    /// <summary>
    /// XEN_DOMCTL_shadow_op for log-dirty mode, as live migration drives it: <paramref name="op"/> turns the mode on
    /// or off, or reads the dirty gfns into <paramref name="dirty"/> (clean also protects them again). Returns the
    /// count read in <paramref name="count"/>; refused for a domain that is not there or not in log-dirty mode.
    /// </summary>
    public XenErrno LogDirtyOp(ushort domid, LogDirtyOperation op, Span<ulong> dirty, out int count)
    {
        const string call = "shadow-op log-dirty";
        count = 0;
        if (!_byId.TryGetValue(domid, out var d) || d.Mmu is not { } mmu)
            return Refusals.Record(domid, $"domain {domid}", call, XenErrno.ESRCH, RefusalCause.NoSuchDomain, 0, 0);
        switch (op)
        {
            case LogDirtyOperation.Enable: mmu.EnableLogDirty(d.P2m.Capacity); return XenErrno.Ok;
            case LogDirtyOperation.Off: mmu.DisableLogDirty(); return XenErrno.Ok;
        }
        count = mmu.ReadLogDirty(op == LogDirtyOperation.Clean, dirty);
        if (count >= 0) return XenErrno.Ok;
        count = 0;
        return Refusals.Record(domid, d.Name, call, XenErrno.EINVAL, RefusalCause.NotPermitted, 0, 0);
    }

    /// <summary>
    /// HVMOP_track_dirty_vram, as the device model calls it for the guest's framebuffer: from now on each display
    /// refresh costs a dirty-page query instead of a compare of the whole range. Refused for a PV domain (its
    /// framebuffer is shared memory, not emulated video RAM) and for gfns the domain does not have.
    /// </summary>
    public XenErrno TrackDirtyVram(ushort domid, ulong firstGfn, ulong pages)
    {
        const string call = "track-dirty-vram";
        if (!_byId.TryGetValue(domid, out var d))
            return Refusals.Record(domid, $"domain {domid}", call, XenErrno.ESRCH, RefusalCause.NoSuchDomain, (long)pages, 0);
        if (d.IsPv)
            return Refusals.Record(domid, d.Name, call, XenErrno.EOPNOTSUPP, RefusalCause.NeedsHvm, (long)pages, 0);
        if (pages == 0 || firstGfn + pages > d.P2m.Capacity)
            return Refusals.Record(domid, d.Name, call, XenErrno.EINVAL, RefusalCause.BadGfn, (long)(firstGfn + pages), (long)d.P2m.Capacity);
        d.Vram = new Mmu.LogDirty.VramTracker(firstGfn, pages, Costs);
        return XenErrno.Ok;
    }

    /// <summary>Sets a domain's paging target (xenpaging's target, in pages); -1 stops paging it out.</summary>
    public XenErrno SetPagingTarget(ushort domid, long pages)
    {
        const string call = "paging-target";
        if (!_byId.TryGetValue(domid, out var d))
            return Refusals.Record(domid, $"domain {domid}", call, XenErrno.ESRCH, RefusalCause.NoSuchDomain, pages, 0);
        if (d.IsDom0)
            return Refusals.Record(domid, d.Name, call, XenErrno.EPERM, RefusalCause.NotPermitted, pages, 0);
        // Xen pages (and compresses) through the p2m of an HVM domain; a PV domain's tables hold machine frames.
        if (d.IsPv)
            return Refusals.Record(domid, d.Name, call, XenErrno.EOPNOTSUPP, RefusalCause.NeedsHvm, pages, 0);
        Paging.SetTarget(d, pages);
        return XenErrno.Ok;
    }

    /// <summary>
    /// A frame for a domain's page when the guest needs one now (a first touch, a copy-on-write break, a page-in).
    /// When the heap is empty the host makes room: tmem's ephemeral pages go first, then the pager evicts pages of
    /// the largest guest. False only when nothing can be freed.
    /// </summary>
    internal bool TryAllocateGuestFrame(Domain d, out uint mfn)
    {
        for (int attempt = 0; attempt < 8; attempt++)
        {
            if (Machine.TryAllocate(0, d.PreferredNode, d.DomId, out mfn)) return true;
            if (Tmem.EvictEphemeral(32) > 0) continue;
            if (!Paging.EvictForHost()) break;
        }
        mfn = 0;
        return false;
    }

    /// <summary>Maps a frame the domain now owns at gfn: p2m, m2p and tot_pages.</summary>
    internal void MapFrame(Domain d, ulong gfn, uint mfn)
    {
        d.P2m.Set(gfn, P2mEntry.Ram(mfn));
        M2p[mfn] = (uint)gfn;
        d.TotPages++;
    }

    /// <summary>Frees a frame the domain owned (its p2m entry is the caller's to change): m2p, tot_pages, the heap.</summary>
    internal void ReleaseFrame(Domain d, uint mfn)
    {
        M2p[mfn] = P2m.M2p.Invalid;
        Machine.Free(mfn, 0);
        d.TotPages--;
    }

    /// <summary>Removes whatever the domain has at gfn (guest_remove_page): its frame, its share of a shared frame, or its swap or cache slot.</summary>
    internal void DropEntry(Domain d, ulong gfn)
    {
        var e = d.P2m.Get(gfn);
        switch (e.Type)
        {
            case P2mType.Ram: ReleaseFrame(d, e.Mfn); break;
            case P2mType.Shared: Sharing.Drop(e.Mfn); break;
            case P2mType.PagedOut or P2mType.Compressed: Paging.Drop(d, e); break;
        }
        if (e.Type is not (P2mType.Invalid or P2mType.PopulateOnDemand)) d.Counters.PagesReleased++;
        d.P2m.Set(gfn, P2mEntry.Invalid);
    }

    public void Dispose()
    {
        Paging.Dispose();
        Tmem.Dispose();
    }

    /// <summary>Gives a domain the port its guest kernel uses to reach the hypervisor.</summary>
    public IGuestMemory PortFor(Domain domain) => new DomainPort(this, domain);

    /// <summary>Gives the domain's vCPU the MMU of <paramref name="options"/>' mode (scenario <c>mmu:</c>); the domain keeps it as <see cref="Domain.Mmu"/>.</summary>
    public Mmu.GuestMmu AttachMmu(Domain domain, Mmu.MmuOptions options) =>
        domain.Mmu = Mmu.GuestMmu.Create(this, domain, new DomainPort(this, domain), options);

    /// <summary>Grows or shrinks the domain's reserve to <paramref name="pages"/>; false (and no change) if the host is out of frames.</summary>
    internal bool GrowReserve(Domain d, long pages)
    {
        long add = pages - d.ReservePages;
        if (add > Machine.FreeFrames) return false;
        while (d.ReservePages < pages)
        {
            if (!Machine.TryAllocate(0, d.PreferredNode, DomIds.Xen, out uint mfn)) return false;
            d.ReserveMfns.Add(mfn);
        }
        while (d.ReservePages > pages)
        {
            int last = d.ReserveMfns.Count - 1;
            Machine.Free(d.ReserveMfns[last], 0);
            d.ReserveMfns.RemoveAt(last);
        }
        return true;
    }

    private void ReleaseReserve(Domain d)
    {
        foreach (uint mfn in d.ReserveMfns) Machine.Free(mfn, 0);
        d.ReserveMfns.Clear();
    }

    private void ReleaseAll(Domain d)
    {
        d.P2m.ForEachPresent((gfn, _) => DropEntry(d, gfn));
        d.TotPages = 0;
        d.Compression?.Release();
        Tmem.DestroyClient(d);
        ReleaseReserve(d);
    }

    /// <summary>A key of the domain's store subtree as an absolute path.</summary>
    public static string StorePath(Domain d, string key) => XenStore.DomainPath(d.DomId) + "/" + key;

    // Registers a built domain and writes its memory keys, as libxl does when it builds one.
    private void Register(Domain d)
    {
        Store.Write(StorePath(d, StoreKeys.Target), PageSize.ToKiB(d.TargetPages));
        Store.Write(StorePath(d, StoreKeys.StaticMax), PageSize.ToKiB(d.MaxPages));
        _byId.Add(d.DomId, d);
        int at = _domains.FindIndex(x => x.DomId > d.DomId);
        if (at < 0) _domains.Add(d); else _domains.Insert(at, d);
    }

    private int NodeWithMostFreeMemory()
    {
        int best = 0;
        for (int n = 1; n < Machine.Nodes.Count; n++)
            if (Machine.Nodes[n].FreePages > Machine.Nodes[best].FreePages) best = n;
        return best;
    }
}
