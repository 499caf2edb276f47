using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Store;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Lanes;
using Memvisor.Seam;

namespace Memvisor.Hypervisor.Port;

/// <summary>
/// The in-process implementation of <see cref="IGuestMemory"/> for one domain: p2m lookups and the fault paths
/// a guest access can take (populate-on-demand, copy-on-write of a shared page, page-in from swap or the
/// compression cache), free page reporting and the tmem hypercalls. Only an access that hits a frame of the
/// domain's own (or reads a shared one) and leaves the content store alone runs beside other guests' steps; every
/// other path takes the lane's turn first (<see cref="Turn"/>).
/// </summary>
internal sealed partial class DomainPort(Host hv, Domain d) : IGuestMemory, IGuestGrants
{
    public ushort DomId => d.DomId;
    public long CurrentReservation => d.TotPages;
    public long MaximumReservation => d.MaxPages;
    public long PhysicalPages => (long)d.P2m.Capacity;
    public IGuestStore Store { get; private set; } = new StoreConnection(hv.Store, d);
    /// <summary>The MMU attached when the domain was built (Host.AttachMmu, the one place MMUs are made).</summary>
    public IGuestMmu Mmu => d.Mmu!;

    /// <summary>The guest's domain was restored as <paramref name="domain"/> (a new domid, perhaps on another host): the port now reaches it, and the guest's store watches are registered again, as Linux's xenbus does on resume.</summary>
    internal void MoveTo(Host host, Domain domain)
    {
        var watched = ((StoreConnection)Store).Watched;
        hv = host;
        d = domain;
        var store = new StoreConnection(host.Store, domain);
        foreach (string key in watched) store.Watch(key);
        Store = store;
    }

    // Hypercalls change the heap and the domain's reservation: each waits for the lane's turn.
    public XenErrno PopulatePhysmap(ReadOnlySpan<ulong> gfns, int order, bool onDemand = false)
    {
        Turn.Take();
        return hv.MemoryOp.PopulatePhysmap(d.DomId, gfns, order, onDemand);
    }

    public XenErrno IncreaseReservation(ReadOnlySpan<ulong> gfns, int order, Span<uint> mfnsOut)
    {
        Turn.Take();
        return hv.MemoryOp.IncreaseReservation(d.DomId, gfns, order, mfnsOut);
    }

    public XenErrno DecreaseReservation(ReadOnlySpan<ulong> gfns, int order)
    {
        Turn.Take();
        return hv.MemoryOp.DecreaseReservation(d.DomId, gfns, order);
    }

    public XenErrno Exchange(ReadOnlySpan<ulong> inGfns, int inOrder, ReadOnlySpan<ulong> outGfns, int outOrder)
    {
        Turn.Take();
        return hv.MemoryOp.Exchange(d.DomId, inGfns, inOrder, outGfns, outOrder);
    }

    public XenErrno ReportFreePages(ReadOnlySpan<ulong> gfns, int order)
    {
        Turn.Take();
        return hv.MemoryOp.ReportFreePages(d.DomId, gfns, order);
    }

    public AccessOutcome Touch(Gfn at, bool write, ContentHandle written)
    {
        ulong gfn = at.Value;
        d.Counters.Accesses++;
        d.Activity.OnTouch(gfn);
        var outcome = Resolve(gfn, write, copy: false, out uint mfn);
        // vSphere's NVMe tiering: a page touched on NVMe first comes back to the guest's node (the heap's turn).
        if (d.NodeAccess is not null && outcome != AccessOutcome.Refused && hv.PromotesOnTouch(mfn) && !d.IsPv && !d.Incoming
            && d.P2m.Get(gfn).Type == P2mType.Ram)
        {
            Turn.Take();
            hv.PromoteOnTouch(d, gfn);
            if (Resolve(gfn, write, copy: false, out mfn) == AccessOutcome.Refused) return AccessOutcome.Refused;
        }
        if (outcome != AccessOutcome.Refused && write)
        {
            // The old bytes go back to the content store unless they were zero or synthetic: that is the store's.
            if (!IsPlain(mfn) && Turn.Take())
            {
                outcome = Resolve(gfn, write, copy: false, out mfn);
                if (outcome == AccessOutcome.Refused) return outcome;
            }
            hv.Machine.SetContent(mfn, written);
            Wrote(gfn, mfn);
        }
        // A tiered host: the access costs what the frame's memory node costs beyond the guest's local DRAM.
        if (d.NodeAccess is { } nodes && outcome != AccessOutcome.Refused) hv.ChargeNodeAccess(d, nodes, mfn, write);
        return outcome;
    }

    public bool ReadPage(Gfn at, Span<byte> page)
    {
        ulong gfn = at.Value;
        if (Resolve(gfn, write: false, copy: false, out uint mfn) == AccessOutcome.Refused) return false;
        hv.Machine.ReadFrame(mfn, page);
        return true;
    }

    public bool WritePage(Gfn at, ReadOnlySpan<byte> page)
    {
        ulong gfn = at.Value;
        // A zero page (a new page-table page) needs nothing of the content store unless the old bytes go back to it.
        if (page.Length == PageSize.Bytes && PageBytes.IsZero(page))
        {
            if (Resolve(gfn, write: true, copy: false, out uint zeroed) == AccessOutcome.Refused) return false;
            if (!IsPlain(zeroed) && Turn.Take() && Resolve(gfn, write: true, copy: false, out zeroed) == AccessOutcome.Refused) return false;
            hv.Machine.SetContent(zeroed, ContentHandle.Zero);
            Wrote(gfn, zeroed);
            return true;
        }
        // Other bytes go into the content store.
        Turn.Take();
        if (Resolve(gfn, write: true, copy: false, out uint mfn) == AccessOutcome.Refused) return false;
        hv.Machine.WriteFrame(mfn, page);
        Wrote(gfn, mfn);
        return true;
    }

    public bool TryReadWord(Gfn at, int index, out ulong value)
    {
        ulong gfn = at.Value;
        if (Resolve(gfn, write: false, copy: false, out uint mfn) == AccessOutcome.Refused)
        {
            value = 0;
            return false;
        }
        value = hv.Machine.ReadWord(mfn, index);
        return true;
    }

    public bool WriteWord(Gfn at, int index, ulong value)
    {
        ulong gfn = at.Value;
        if (Resolve(gfn, write: true, copy: true, out uint mfn) == AccessOutcome.Refused) return false;
        // A frame without a private buffer gets one from the content store.
        if (!hv.Machine.Frames[mfn].Content.IsPrivate && Turn.Take()
            && Resolve(gfn, write: true, copy: true, out mfn) == AccessOutcome.Refused)
            return false;
        hv.Machine.WriteWord(mfn, index, value);
        Wrote(gfn, mfn);
        return true;
    }

    // Whatever watches the guest's writes sees this one: log-dirty mode and video RAM tracking. A write through a
    // grant mapping dirties the granter's page, not the grantee's (Xen's gnttab_mark_dirty, common/grant_table.c).
    private void Wrote(ulong gfn, uint mfn)
    {
        if (d.P2m.GrantMapEntries != 0 && d.P2m.Get(gfn).IsGrantMap)
        {
            // The granter's bitmap is marked; the grantee's write takes no log-dirty fault in the granter.
            if (hv.Grants.GranterOf(mfn) is { } granter && hv.M2p[mfn] is var own)
            {
                granter.Vram?.OnWrite(own);
                granter.Mmu?.LogDirty?.OnWrite(own);
            }
            return;
        }
        d.Vram?.OnWrite(gfn);
        d.Mmu?.OnGuestWrite(gfn);
    }

    public bool ReadPageOrHandle(Gfn at, Span<byte> page, out ContentHandle content)
    {
        content = ContentHandle.Zero;
        if (Resolve(at.Value, write: false, copy: false, out uint mfn) == AccessOutcome.Refused) return false;
        content = hv.Machine.Frames[mfn].Content;
        if (!(content.IsZero || content.IsSynthetic)) hv.Machine.ReadFrame(mfn, page);
        return true;
    }

    public bool TryReadSynthetic(Gfn at, out ContentHandle content)
    {
        ulong gfn = at.Value;
        content = ContentHandle.Zero;
        if (Resolve(gfn, write: false, copy: false, out uint mfn) == AccessOutcome.Refused) return false;
        content = hv.Machine.Frames[mfn].Content;
        return content.IsZero || content.IsSynthetic;
    }

    public bool Halted => d.IsCrashed;

    public double TakeStallNs()
    {
        double ns = d.PendingStallNs;
        d.PendingStallNs = 0;
        return ns;
    }

    // tmem is the host's: every tmem hypercall waits for the lane's turn.
    public int TmemNewPool(bool persistent)
    {
        Turn.Take();
        return hv.Tmem.NewPool(d, persistent);
    }

    public bool TmemPut(int pool, ulong obj, uint index, Gfn gfn)
    {
        Turn.Take();
        return Resolve(gfn.Value, write: false, copy: false, out uint mfn) != AccessOutcome.Refused && hv.Tmem.Put(d, pool, obj, index, mfn);
    }

    // The page is resolved for writing only if tmem holds the key: a miss must leave it as it was.
    public bool TmemGet(int pool, ulong obj, uint index, Gfn gfn)
    {
        Turn.Take();
        if (!hv.Tmem.Holds(d, pool, obj, index) || Resolve(gfn.Value, write: true, copy: true, out uint mfn) == AccessOutcome.Refused
            || !hv.Tmem.Get(d, pool, obj, index, mfn))
            return false;
        Host.MarkDirty(d, gfn.Value);
        return true;
    }

    public void TmemFlush(int pool, ulong obj, uint index)
    {
        Turn.Take();
        hv.Tmem.Flush(d, pool, obj, index);
    }

    public bool TmemPeek(int pool, ulong obj, uint index, Span<byte> page)
    {
        Turn.Take();
        return hv.Tmem.Peek(d, pool, obj, index, page);
    }

    // Zero or synthetic bytes: replacing them gives nothing back to the content store.
    private bool IsPlain(uint mfn)
    {
        var content = hv.Machine.Frames[mfn].Content;
        return content.IsZero || content.IsSynthetic;
    }

    // Finds the frame behind gfn for an access, taking whichever fault path the entry needs. A write needs a frame
    // the domain owns: a shared page is copied first (with its bytes when the write is partial).
    // Only the hit on a frame of the domain's own, or a read of a shared one, runs beside other guests' steps: every
    // other path (a fault, another domain's granted frame, a refusal for the log) waits for the lane's turn first and
    // then looks at the entry again.
    private AccessOutcome Resolve(ulong gfn, bool write, bool copy, out uint mfn)
    {
        if (d.IsCrashed)
        {
            Turn.Take();
            return Refuse(gfn, RefusalCause.DomainCrashed, out mfn);
        }
        var e = d.P2m.GetForAccess(gfn, write);
        if (e.Type == P2mType.Ram || (e.Type == P2mType.Shared && !write))
        {
            mfn = e.Mfn;
            if (write && d.IsPv && IsPageTable(mfn)) return RefuseTableWrite(gfn, out mfn);
            return AccessOutcome.Hit;
        }
        if (Turn.Take()) return Resolve(gfn, write, copy, out mfn);
        switch (e.Type)
        {
            case P2mType.Shared:
                if (hv.Sharing.Unshare(d, gfn, e, copy, out mfn)) return AccessOutcome.Unshared;
                return Refuse(gfn, RefusalCause.OutOfMemory, out mfn);
            case P2mType.PopulateOnDemand:
                if (hv.MemoryOp.PopulateOnDemandFault(d, gfn) == XenErrno.Ok)
                {
                    mfn = d.P2m.Get(gfn).Mfn;
                    return AccessOutcome.PopulatedOnDemand;
                }
                if (d.IsCrashed) return Refuse(gfn, RefusalCause.DomainCrashed, out mfn);
                mfn = 0;
                return AccessOutcome.Refused;
            // Another domain's page, mapped through a grant: read-only grants refuse a write (Xen: the write faults).
            case P2mType.GrantMapRw:
            case P2mType.GrantMapRo when !write:
                mfn = e.Mfn;
                if (write && IsPageTable(mfn)) return RefuseTableWrite(gfn, out mfn);
                return AccessOutcome.Hit;
            // A post-copy migration's page still on the source: fetched over the link (the guest waits for it).
            case P2mType.Remote:
                if (d.PostCopy is { } source && source.Fetch(gfn))
                {
                    mfn = d.P2m.Get(gfn).Mfn;
                    return AccessOutcome.FetchedRemote;
                }
                return Refuse(gfn, RefusalCause.PageUnreadable, out mfn);
            case P2mType.PagedOut:
            case P2mType.Compressed:
                if (hv.Paging.PageIn(d, gfn, out mfn, out bool unreadable)) return AccessOutcome.PagedIn;
                return Refuse(gfn, unreadable ? RefusalCause.PageUnreadable : RefusalCause.OutOfMemory, out mfn);
            default:
                return Refuse(gfn, RefusalCause.GfnNotPopulated, out mfn);
        }
    }

    // A PV page table is mapped read-only to its guest: a plain write to one is not an mmu_update and is refused (Xen
    // traps it and emulates it as a validated update, ptwr_emulated_update; here the guest must use mmu_update).
    private bool IsPageTable(uint mfn) => hv.Machine.Frames[mfn] is { TypeCount: > 0 } f && Memvisor.Hypervisor.Mmu.Pv.PageTypes.IsTable(f.Type);

    private AccessOutcome RefuseTableWrite(ulong gfn, out uint mfn)
    {
        Turn.Take();
        return Refuse(gfn, RefusalCause.NotPermitted, out mfn);
    }

    /// <summary>The frame behind one of this domain's gfns for a grant mapping of it: brought in if paged out or compressed, unshared if shared, populated if populate-on-demand. False if there is none or it could not be had.</summary>
    internal bool ResolveForGrant(ulong gfn, out uint mfn)
    {
        mfn = 0;
        if (gfn >= d.P2m.Capacity || d.P2m.Get(gfn) is var e && e.IsGrantMap) return false;
        // A page of the domain's own is mapped as it is (a PV page table too: the grant's type check decides on it).
        if (e.Type == P2mType.Ram)
        {
            mfn = e.Mfn;
            return true;
        }
        return Resolve(gfn, write: true, copy: true, out mfn) != AccessOutcome.Refused;
    }

    private AccessOutcome Refuse(ulong gfn, RefusalCause cause, out uint mfn)
    {
        d.Counters.Refusals++;
        var errno = cause switch { RefusalCause.OutOfMemory => XenErrno.ENOMEM, RefusalCause.PageUnreadable => XenErrno.EIO, _ => XenErrno.EFAULT };
        long requested = cause == RefusalCause.OutOfMemory ? 1 : (long)Math.Min(gfn, long.MaxValue);
        hv.Refusals.Record(d.DomId, d.Name, "access", errno, cause, requested, hv.Machine.FreeFrames);
        mfn = 0;
        return AccessOutcome.Refused;
    }
}
