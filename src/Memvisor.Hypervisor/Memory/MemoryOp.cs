using System.Buffers;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.P2m;
using Memvisor.Machine.Heap;
using Memvisor.Seam;

namespace Memvisor.Hypervisor.Memory;

/// <summary>
/// The memory_op hypercalls (xen/common/memory.c): increase_reservation, decrease_reservation, populate_physmap,
/// exchange, and the max_mem domctl. Unlike Xen, which may complete part of a batch, every call here is checked
/// whole before it acts: a refused call returns its errno and changes nothing.
/// </summary>
public sealed class MemoryOp(Host hv)
{
    /// <summary>The largest extent order a guest may ask for (Xen's default domU max_order: 2 MiB superpages).</summary>
    public const int MaxGuestOrder = 9;

    /// <summary>XENMEM_populate_physmap: back each extent of gfns with fresh zeroed frames, or (on demand) mark it populate-on-demand.</summary>
    public XenErrno PopulatePhysmap(ushort domid, ReadOnlySpan<ulong> gfns, int order, bool onDemand = false) =>
        Populate(domid, "populate_physmap", gfns, order, onDemand, []);

    /// <summary>XENMEM_increase_reservation: as populate_physmap, and returns the mfns (the PV view, where the guest sees machine frames).</summary>
    public XenErrno IncreaseReservation(ushort domid, ReadOnlySpan<ulong> gfns, int order, Span<uint> mfnsOut)
    {
        if (mfnsOut.Length < gfns.Length)
            throw new ArgumentException("The output span must hold one mfn per extent.", nameof(mfnsOut));
        return Populate(domid, "increase_reservation", gfns, order, false, mfnsOut);
    }

    /// <summary>XENMEM_decrease_reservation: gives back the extents at these gfns; their frames go to the heap, scrub-pending.</summary>
    public XenErrno DecreaseReservation(ushort domid, ReadOnlySpan<ulong> gfns, int order)
    {
        const string call = "decrease_reservation";
        if (!TryGetDomain(domid, call, out var d)) return XenErrno.ESRCH;
        var check = CheckPresentExtents(d, call, gfns, order);
        if (check != XenErrno.Ok) return check;
        ulong pages = 1UL << order;

        foreach (ulong gfn in gfns)
            for (ulong i = 0; i < pages; i++)
            {
                // A PoD domain's ballooned RAM page goes into its cache (p2m_pod_decrease_reservation).
                var e = d.P2m.Get(gfn + i);
                if (d.Pod is not null && e.Type == P2mType.Ram)
                {
                    hv.PodTakeBallooned(d, gfn + i, e.Mfn);
                    d.Counters.PagesReleased++;
                }
                else RemovePage(d, gfn + i);
            }
        hv.PodCheckLiabilities(d);
        d.Counters.HypervisorNs += hv.Costs.HypercallNs + gfns.Length * (double)pages * hv.Costs.PageFreeNs;
        return XenErrno.Ok;
    }

    /// <summary>
    /// Free page reporting: the guest's free extents lose their frames (as a virtio-balloon host discards reported
    /// ranges with MADV_DONTNEED) and become populate-on-demand, so the next touch of each gets a zeroed frame.
    /// The gfns stay the guest's: tot_pages falls, the reservation does not.
    /// </summary>
    public XenErrno ReportFreePages(ushort domid, ReadOnlySpan<ulong> gfns, int order)
    {
        const string call = "report_free_pages";
        if (!TryGetDomain(domid, call, out var d)) return XenErrno.ESRCH;
        var check = CheckPresentExtents(d, call, gfns, order);
        if (check != XenErrno.Ok) return check;
        ulong pages = 1UL << order;
        long reclaimed = 0;
        foreach (ulong gfn in gfns)
            for (ulong i = 0; i < pages; i++)
            {
                if (d.P2m.Get(gfn + i).Type == P2mType.PopulateOnDemand) continue;
                hv.DropEntry(d, gfn + i);
                d.P2m.Set(gfn + i, P2mEntry.PopulateOnDemand);
                reclaimed++;
            }
        d.Counters.PagesReported += reclaimed;
        d.Counters.HypervisorNs += hv.Costs.HypercallNs + reclaimed * hv.Costs.PageFreeNs;
        return XenErrno.Ok;
    }

    /// <summary>
    /// XENMEM_exchange: trades the domain's extents at <paramref name="inGfns"/> for new frames of another order mapped
    /// at <paramref name="outGfns"/> (used to obtain machine-contiguous memory). The new frames are zero: contents are
    /// not carried over, as in Xen.
    /// </summary>
    public XenErrno Exchange(ushort domid, ReadOnlySpan<ulong> inGfns, int inOrder, ReadOnlySpan<ulong> outGfns, int outOrder)
    {
        const string call = "exchange";
        if (!TryGetDomain(domid, call, out var d)) return XenErrno.ESRCH;
        long inPages = (long)inGfns.Length << inOrder, outPages = (long)outGfns.Length << outOrder;
        if (inPages != outPages) return Refuse(d, call, XenErrno.EINVAL, RefusalCause.SizeMismatch, inPages, outPages);
        var check = CheckExtents(d, call, inGfns, inOrder);
        if (check == XenErrno.Ok) check = CheckExtents(d, call, outGfns, outOrder);
        if (check != XenErrno.Ok) return check;
        foreach (ulong gfn in inGfns)
            for (ulong i = 0; i < 1UL << inOrder; i++)
            {
                var e = d.P2m.Get(gfn + i);
                if (!e.HasFrame) return Refuse(d, call, XenErrno.EINVAL, RefusalCause.GfnNotPopulated, (long)(gfn + i), 0);
                var held = CheckNotGrantMapped(d, call, gfn + i, e);
                if (held != XenErrno.Ok) return held;
            }
        foreach (ulong gfn in outGfns)
            for (ulong i = 0; i < 1UL << outOrder; i++)
                if (d.P2m.Get(gfn + i) is var e && (e.IsGrantMap || (e.HasFrame && !Covers(inGfns, inOrder, gfn + i))))
                    return Refuse(d, call, XenErrno.EEXIST, RefusalCause.GfnAlreadyPopulated, (long)(gfn + i), 0);
        long capacity = CapacityAtOrder(outOrder);
        if (capacity < outPages) return Refuse(d, call, XenErrno.ENOMEM, RefusalCause.OutOfMemory, outPages, capacity);

        // Allocate every output extent first (cannot fail after the capacity check), then release the input, then map.
        var mfns = ArrayPool<uint>.Shared.Rent(outGfns.Length);
        try
        {
            for (int e = 0; e < outGfns.Length; e++)
                AllocateExtent(d, outGfns[e], outOrder, out mfns[e]);
            foreach (ulong gfn in inGfns)
                for (ulong i = 0; i < 1UL << inOrder; i++)
                    RemovePage(d, gfn + i);
            for (int e = 0; e < outGfns.Length; e++)
                MapExtent(d, outGfns[e], outOrder, mfns[e]);
        }
        finally
        {
            ArrayPool<uint>.Shared.Return(mfns);
        }
        d.Counters.HypervisorNs += hv.Costs.HypercallNs + outPages * (hv.Costs.PageAllocNs + hv.Costs.PageFreeNs);
        return XenErrno.Ok;
    }

    /// <summary>
    /// XEN_DOMCTL_max_mem: sets max_pages and resizes the domain's paging pool and physical address space. A value
    /// below tot_pages is refused (Xen before 4.0 did so; DESIGN.md invariant 5 keeps tot_pages &lt;= max_pages).
    /// </summary>
    public XenErrno MaxMem(ushort domid, long maxPages)
    {
        const string call = "max_mem";
        if (!TryGetDomain(domid, call, out var d)) return XenErrno.ESRCH;
        // A PoD domain's cache counts in tot_pages but holds no entry: neither may pass the new max_pages.
        long held = Math.Max(d.P2m.PresentEntries, d.TotPages);
        if (maxPages < held)
            return Refuse(d, call, XenErrno.EINVAL, RefusalCause.BelowTotPages, maxPages, held);
        long reserve = Host.ReservePagesFor(d.Config with { MaxPages = Math.Max(maxPages, d.Config.MaxPages) });
        if (!hv.GrowReserve(d, reserve))
            return Refuse(d, call, XenErrno.ENOMEM, RefusalCause.OutOfMemory, reserve - d.ReservePages, hv.Machine.FreeFrames);
        d.P2m.Grow((ulong)maxPages);
        d.MaxPages = maxPages;
        d.Counters.HypervisorNs += hv.Costs.HypercallNs;
        return XenErrno.Ok;
    }

    /// <summary>Populates gfns [first, first+count) with frames, in 2 MiB extents where aligned: the domain builder's path.</summary>
    internal XenErrno PopulateRange(Domain d, ulong first, long count)
    {
        if (d.TotPages + count > d.MaxPages || count > hv.Machine.FreeFrames) return XenErrno.ENOMEM;
        ulong gfn = first, end = first + (ulong)count;
        while (gfn < end)
        {
            // A 2 MiB extent never straddles two virtual NUMA nodes (libxl builds each vnode's range on its own).
            int order = (gfn & ((1UL << MaxGuestOrder) - 1)) == 0 && end - gfn >= 1UL << MaxGuestOrder && CapacityAtOrder(MaxGuestOrder) >= 1L << MaxGuestOrder
                && d.NodeFor(gfn) == d.NodeFor(gfn + (1UL << MaxGuestOrder) - 1) ? MaxGuestOrder : 0;
            if (!hv.Machine.TryAllocate(order, d.NodeFor(gfn), d.DomId, out uint mfn)) return XenErrno.ENOMEM;
            MapExtent(d, gfn, order, mfn);
            gfn += 1UL << order;
        }
        d.Counters.HypervisorNs += count * hv.Costs.PageAllocNs;
        return XenErrno.Ok;
    }

    /// <summary>Backs one populate-on-demand gfn with a frame on the guest's first touch (Xen's p2m_pod_demand_populate).</summary>
    internal XenErrno PopulateOnDemandFault(Domain d, ulong gfn)
    {
        const string call = "pod_fault";
        if (d.Pod is not null)
        {
            // Xen: from the domain's cache; tot_pages already counts the frame.
            if (!hv.PodPopulate(d, gfn, out _))
                return Refuse(d, call, XenErrno.ENOMEM, RefusalCause.DomainCrashed, 1, 0);
            d.Counters.PagesPopulated++;
            d.Counters.PodFaults++;
            d.Counters.HypervisorNs += hv.Costs.VmExitNs + hv.Costs.PageAllocNs;
            return XenErrno.Ok;
        }
        if (TryPopulateLargePage(d, gfn)) return XenErrno.Ok;
        if (d.TotPages + 1 > d.MaxPages)
            return Refuse(d, call, XenErrno.E2BIG, RefusalCause.OverMaxPages, 1, d.MaxPages - d.TotPages);
        if (!hv.TryAllocateGuestFrame(d, gfn, out uint mfn))
            return Refuse(d, call, XenErrno.ENOMEM, RefusalCause.OutOfMemory, 1, hv.Machine.FreeFrames);
        MapExtent(d, gfn, 0, mfn);
        d.Counters.PodFaults++;
        d.Counters.HypervisorNs += hv.Costs.VmExitNs + hv.Costs.PageAllocNs + hv.Costs.ScrubPageNs;
        return XenErrno.Ok;
    }

    // ESX backs a first touch with a 2 MiB page when it can (VMware KB 1021896: "even if the guest is accessing a 4 KB
    // page ... ESXi/ESX might allocate 2 MB"), as Linux's THP fault does for QEMU's guest RAM (do_huge_pmd_anonymous_page):
    // only where the whole aligned region is untouched and a free 2 MiB block is at hand, never by evicting anything.
    private bool TryPopulateLargePage(Domain d, ulong gfn)
    {
        ulong first = gfn & ~((1UL << MaxGuestOrder) - 1);
        if (!hv.LargePagesOnFirstTouch || !d.P2m.IsUntouchedRegion(first) || d.TotPages + (1L << MaxGuestOrder) > d.MaxPages
            || d.NodeFor(first) != d.NodeFor(first + (1UL << MaxGuestOrder) - 1)) return false;
        if (!hv.Machine.TryAllocate(MaxGuestOrder, d.NodeFor(first), d.DomId, out uint mfn)) return false;
        MapExtent(d, first, MaxGuestOrder, mfn);
        d.Counters.LargePagesPopulated++;
        d.Counters.PodFaults++;
        d.Counters.HypervisorNs += hv.Costs.VmExitNs + hv.Costs.PageAllocNs + (1L << MaxGuestOrder) * hv.Costs.ScrubPageNs;
        return true;
    }

    private XenErrno Populate(ushort domid, string call, ReadOnlySpan<ulong> gfns, int order, bool onDemand, Span<uint> mfnsOut)
    {
        if (!TryGetDomain(domid, call, out var d)) return XenErrno.ESRCH;
        var check = CheckExtents(d, call, gfns, order);
        if (check != XenErrno.Ok) return check;
        ulong extentPages = 1UL << order;
        long pages = (long)gfns.Length << order;
        long fresh = 0;
        foreach (ulong gfn in gfns)
            for (ulong i = 0; i < extentPages; i++)
            {
                var type = d.P2m.Get(gfn + i).Type;
                if (type == P2mType.Invalid) fresh++;
                else if (onDemand || type != P2mType.PopulateOnDemand)
                    return Refuse(d, call, XenErrno.EEXIST, RefusalCause.GfnAlreadyPopulated, (long)(gfn + i), 0);
            }

        // tot_pages may not pass max_pages, nor may the entries the domain has anywhere (shared, paged out,
        // compressed): each of those becomes an owned frame again when it is written or touched.
        long used = d.TotPages + (onDemand ? d.PodPages : 0);
        if (used + pages > d.MaxPages)
            return Refuse(d, call, XenErrno.E2BIG, RefusalCause.OverMaxPages, pages, d.MaxPages - used);
        if (d.P2m.PresentEntries + fresh > d.MaxPages)
            return Refuse(d, call, XenErrno.E2BIG, RefusalCause.OverMaxPages, fresh, d.MaxPages - d.P2m.PresentEntries);
        if (onDemand)
        {
            foreach (ulong gfn in gfns)
                for (ulong i = 0; i < extentPages; i++)
                {
                    d.P2m.Set(gfn + i, P2mEntry.PopulateOnDemand);
                    Host.MarkDirty(d, gfn + i);
                }
            d.Counters.HypervisorNs += hv.Costs.HypercallNs;
            return XenErrno.Ok;
        }
        long capacity = CapacityAtOrder(order);
        if (capacity < pages)
            return Refuse(d, call, XenErrno.ENOMEM, RefusalCause.OutOfMemory, pages, capacity);

        for (int e = 0; e < gfns.Length; e++)
        {
            AllocateExtent(d, gfns[e], order, out uint mfn);
            MapExtent(d, gfns[e], order, mfn);
            if (!mfnsOut.IsEmpty) mfnsOut[e] = mfn;
        }
        d.Counters.HypervisorNs += hv.Costs.HypercallNs + pages * hv.Costs.PageAllocNs;
        return XenErrno.Ok;
    }

    /// <summary>As <see cref="CheckExtents"/>, and every page of every extent holds something (a frame, a share, a slot, or a PoD entry).</summary>
    private XenErrno CheckPresentExtents(Domain d, string call, ReadOnlySpan<ulong> gfns, int order)
    {
        var check = CheckExtents(d, call, gfns, order);
        if (check != XenErrno.Ok) return check;
        foreach (ulong gfn in gfns)
            for (ulong i = 0; i < 1UL << order; i++)
            {
                var e = d.P2m.Get(gfn + i);
                if (e.Type == P2mType.Invalid)
                    return Refuse(d, call, XenErrno.EINVAL, RefusalCause.GfnNotPopulated, (long)(gfn + i), 0);
                var held = CheckNotGrantMapped(d, call, gfn + i, e);
                if (held != XenErrno.Ok) return held;
            }
        return XenErrno.Ok;
    }

    // A grant mapping is not the domain's page to give back, and a page another domain has mapped through a grant
    // cannot be given back until it is unmapped (Xen holds it by the mapping's reference).
    private XenErrno CheckNotGrantMapped(Domain d, string call, ulong gfn, P2mEntry e)
    {
        if (e.IsGrantMap) return Refuse(d, call, XenErrno.EINVAL, RefusalCause.GrantMapped, (long)gfn, 0);
        if (e.HasFrame && hv.Grants.IsMapped(e.Mfn)) return Refuse(d, call, XenErrno.EBUSY, RefusalCause.GrantMapped, (long)gfn, 0);
        // A PV domain's frame its own tables still map (or that is one) stays until the references go, as Xen keeps it.
        if (d.IsPv && e.Type == P2mType.Ram && (hv.Machine.Frames[e.Mfn].RefCount > 0 || hv.Machine.Frames[e.Mfn].TypeCount > 0))
            return Refuse(d, call, XenErrno.EBUSY, RefusalCause.PageReferenced, (long)gfn, 0);
        return XenErrno.Ok;
    }

    /// <summary>Checks the domain, the order, each extent's alignment and bounds, and that no extent is named twice.</summary>
    private XenErrno CheckExtents(Domain d, string call, ReadOnlySpan<ulong> gfns, int order)
    {
        if (order < 0 || order > MaxGuestOrder)
            return Refuse(d, call, XenErrno.EINVAL, RefusalCause.BadOrder, order, MaxGuestOrder);
        ulong pages = 1UL << order;
        foreach (ulong gfn in gfns)
        {
            if ((gfn & (pages - 1)) != 0 || gfn + pages > d.P2m.Capacity || gfn + pages < gfn)
                return Refuse(d, call, XenErrno.EINVAL, RefusalCause.BadGfn, (long)Math.Min(gfn, long.MaxValue), (long)d.P2m.Capacity);
        }
        if (gfns.Length > 1)
        {
            var sorted = ArrayPool<ulong>.Shared.Rent(gfns.Length);
            try
            {
                gfns.CopyTo(sorted);
                var span = sorted.AsSpan(0, gfns.Length);
                span.Sort();
                for (int i = 1; i < span.Length; i++)
                    if (span[i] == span[i - 1])
                        return Refuse(d, call, XenErrno.EINVAL, RefusalCause.GfnAlreadyPopulated, (long)span[i], 0);
            }
            finally
            {
                ArrayPool<ulong>.Shared.Return(sorted);
            }
        }
        return XenErrno.Ok;
    }

    /// <summary>Free frames that can be handed out in blocks of 2^order: an allocation of that order succeeds while this is at least 2^order.</summary>
    private long CapacityAtOrder(int order)
    {
        long pages = 0;
        foreach (var node in hv.Machine.Nodes)
            pages += node.FreePages - node.FreePagesBelowOrder(order);
        return pages;
    }

    private void AllocateExtent(Domain d, ulong gfn, int order, out uint mfn)
    {
        if (!hv.Machine.TryAllocate(order, d.NodeFor(gfn), d.DomId, out mfn))
            throw new InvalidOperationException($"The heap refused an order-{order} allocation that the capacity check allowed; the buddy heap is inconsistent.");
    }

    private void MapExtent(Domain d, ulong gfn, int order, uint mfn)
    {
        ulong pages = 1UL << order;
        for (ulong i = 0; i < pages; i++) hv.MapFrame(d, gfn + i, mfn + (uint)i);
        // A 2 MiB extent is a large page from the start, so that whatever breaks it later is counted.
        if (order == MaxGuestOrder) d.P2m.MarkSuperpage(gfn);
        d.Counters.PagesPopulated += (long)pages;
    }

    private void RemovePage(Domain d, ulong gfn) => hv.DropEntry(d, gfn);

    private static bool Covers(ReadOnlySpan<ulong> extents, int order, ulong gfn)
    {
        foreach (ulong start in extents)
            if (gfn >= start && gfn < start + (1UL << order)) return true;
        return false;
    }

    private bool TryGetDomain(ushort domid, string call, out Domain d)
    {
        var found = hv.Find(domid);
        if (found is null || found.IsDying)
        {
            hv.Refusals.Record(domid, $"domain {domid}", call, XenErrno.ESRCH, RefusalCause.NoSuchDomain, 0, 0);
            d = null!;
            return false;
        }
        d = found;
        return true;
    }

    private XenErrno Refuse(Domain d, string call, XenErrno errno, RefusalCause cause, long requested, long limit)
    {
        d.Counters.Refusals++;
        return hv.Refusals.Record(d.DomId, d.Name, call, errno, cause, requested, limit);
    }
}
