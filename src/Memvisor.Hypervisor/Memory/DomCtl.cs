using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.Mmu.LogDirty;
using Memvisor.Seam;
using Memvisor.Machine.Frames;

namespace Memvisor.Hypervisor.Memory;

/// <summary>
/// The domain controls the toolstack issues on a running domain (Xen's xen/common/domctl.c and hvm.c's HVMOPs,
/// with xenstore's memory/target): balloon target, log-dirty mode, dirty-VRAM tracking and the paging target.
/// Each refuses a domid that is not there with ESRCH.
/// </summary>
public sealed class DomCtl(Host host)
{
    /// <summary>
    /// The toolstack's write of memory/target (xl mem-set): refused above max_pages, and for dom0 below its minimum.
    /// The guest's balloon moves toward it; nothing moves here.
    /// </summary>
    public XenErrno SetTarget(ushort domid, long pages)
    {
        const string call = "mem-set";
        if (!host.TryGetDomain(domid, call, pages, out var d, out var missing)) return missing;
        if (pages > d.MaxPages)
            return host.Refusals.Record(domid, d.Name, call, XenErrno.EINVAL, RefusalCause.AboveMaxMem, pages, d.MaxPages);
        if (pages < d.Config.MinPages)
            return host.Refusals.Record(domid, d.Name, call, XenErrno.EPERM, RefusalCause.BelowDom0Minimum, pages, d.Config.MinPages);
        d.TargetPages = pages;
        // libxl_set_memory_target sets a PoD domain's cache target with the balloon's (xc_domain_set_pod_target).
        if (d.Pod is not null) host.SetPodTarget(d, pages);
        host.Store.Write(Host.StorePath(d, StoreKeys.Target), PageSize.ToKiB(pages));
        return XenErrno.Ok;
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
        if (!host.TryGetDomain(domid, call, 0, out var d, out var missing)) return missing;
        if (d.Mmu is not { } mmu)
            return host.Refusals.Record(domid, $"domain {domid}", call, XenErrno.ESRCH, RefusalCause.NoSuchDomain, 0, 0);
        // A migration's bitmap is the migration's: turning it off or cleaning it would lose pages it must resend.
        if (d.MigratingOut && op != LogDirtyOperation.Peek)
            return host.Refusals.Record(domid, d.Name, call, XenErrno.EBUSY, RefusalCause.NotPermitted, 0, 0);
        switch (op)
        {
            case LogDirtyOperation.Enable: mmu.EnableLogDirty(d.P2m.Capacity); return XenErrno.Ok;
            case LogDirtyOperation.Off: mmu.DisableLogDirty(); return XenErrno.Ok;
        }
        count = mmu.ReadLogDirty(op == LogDirtyOperation.Clean, dirty);
        if (count >= 0) return XenErrno.Ok;
        count = 0;
        return host.Refusals.Record(domid, d.Name, call, XenErrno.EINVAL, RefusalCause.NotPermitted, 0, 0);
    }

    /// <summary>
    /// HVMOP_track_dirty_vram, as the device model calls it for the guest's framebuffer: from now on each display
    /// refresh costs a dirty-page query instead of a compare of the whole range. Refused for a PV domain (its
    /// framebuffer is shared memory, not emulated video RAM) and for gfns the domain does not have.
    /// </summary>
    public XenErrno TrackDirtyVram(ushort domid, ulong firstGfn, ulong pages)
    {
        const string call = "track-dirty-vram";
        if (!host.TryGetDomain(domid, call, (long)pages, out var d, out var missing)) return missing;
        if (d.IsPv)
            return host.Refusals.Record(domid, d.Name, call, XenErrno.EOPNOTSUPP, RefusalCause.NeedsHvm, (long)pages, 0);
        if (pages == 0 || firstGfn + pages > d.P2m.Capacity)
            return host.Refusals.Record(domid, d.Name, call, XenErrno.EINVAL, RefusalCause.BadGfn, (long)(firstGfn + pages), (long)d.P2m.Capacity);
        d.Vram = new VramTracker(firstGfn, pages, host.Costs);
        return XenErrno.Ok;
    }

    /// <summary>Sets a domain's paging target (xenpaging's target, in pages); -1 stops paging it out.</summary>
    public XenErrno SetPagingTarget(ushort domid, long pages)
    {
        const string call = "paging-target";
        if (!host.TryGetDomain(domid, call, pages, out var d, out var missing)) return missing;
        if (d.IsDom0)
            return host.Refusals.Record(domid, d.Name, call, XenErrno.EPERM, RefusalCause.NotPermitted, pages, 0);
        // Xen pages (and compresses) through the p2m of an HVM domain; a PV domain's tables hold machine frames.
        if (d.IsPv)
            return host.Refusals.Record(domid, d.Name, call, XenErrno.EOPNOTSUPP, RefusalCause.NeedsHvm, pages, 0);
        // Hyper-V has no paging of a running VM (Smart Paging runs only during a restart).
        if (!host.Personality.HasPagingTarget && pages >= 0)
            return host.Refusals.Record(domid, d.Name, call, XenErrno.EOPNOTSUPP, RefusalCause.NotOnThisHypervisor, pages, 0);
        host.Paging.SetTarget(d, pages);
        return XenErrno.Ok;
    }
}
