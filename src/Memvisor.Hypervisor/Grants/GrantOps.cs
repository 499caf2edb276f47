using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.Mmu.Pv;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Port;
using Memvisor.Machine.Frames;
using Memvisor.Seam;

namespace Memvisor.Hypervisor.Grants;

/// <summary>
/// The grant-table hypercalls, after Xen's common/grant_table.c: GNTTABOP_setup_table, map_grant_ref and
/// unmap_grant_ref (a mapping puts the granter's frame in the grantee's p2m as p2m_grant_map_rw or _ro and holds a
/// reference on it, so the granter can neither free, balloon out, share nor page that frame until it is unmapped), and
/// GNTTABOP_copy (the hypervisor copies bytes between domains, checking the grant of each side that is not the
/// caller's own page). A domain reaches another's frame only through these (DESIGN.md invariant 2, held by
/// <see cref="Accounting.Auditor"/>). Granting is the guest writing an entry of its own table
/// (<see cref="GrantAccess"/>, <see cref="EndAccess"/>, <see cref="AcceptTransfer"/>); GNTTABOP_transfer gives a page
/// to another domain. Simplifications: no v2 entries or status frames, a transfer names gfns on both sides (Xen's is
/// for PV receivers and names machine frames), and a
/// granter destroyed while its pages are mapped has those mappings removed (Xen keeps it a zombie until they go).
/// </summary>
public sealed partial class GrantOps
{
    private readonly Host _hv;
    private readonly Dictionary<ushort, GrantTable> _tables = [];
    // Per grantee, its mappings by handle (a freed handle holds null until reused), as Xen's maptrack.
    private readonly Dictionary<ushort, List<GrantMapping?>> _maptrack = [];
    // Granted frames mapped now, and by how many mappings; of those, PV granters' frames mapped writable, and by how many.
    private readonly Dictionary<uint, int> _mapped = [];
    private readonly Dictionary<uint, int> _typed = [];
    private readonly byte[] _src = new byte[PageSize.Bytes];
    private readonly byte[] _dst = new byte[PageSize.Bytes];

    internal GrantOps(Host hv) => _hv = hv;

    /// <summary>The most frames a domain's table may have (Xen's gnttab_max_frames default).</summary>
    public const int MaxTableFrames = GrantTable.MaxFrames;

    /// <summary>The live counters, bumped in place; <see cref="Stats"/> is a copy for readers.</summary>
    internal GrantStats Counters;
    public GrantStats Stats => Counters;

    /// <summary>Frames the grant tables take from the heap (the hypervisor's own use).</summary>
    public long TableFrames { get; private set; }

    /// <summary>Mappings of foreign frames that exist now, over all domains.</summary>
    public long Mappings { get; private set; }

    /// <summary>Whether some domain has frame <paramref name="mfn"/> mapped through a grant.</summary>
    public bool IsMapped(uint mfn) => _mapped.Count != 0 && _mapped.ContainsKey(mfn);

    /// <summary>How many grant mappings frame <paramref name="mfn"/> has.</summary>
    public int MappingsOf(uint mfn) => _mapped.GetValueOrDefault(mfn);

    /// <summary>How many writable grant mappings hold a type reference on frame <paramref name="mfn"/> (a PV granter's page).</summary>
    internal int WritableTypeRefsOf(uint mfn) => _typed.GetValueOrDefault(mfn);

    /// <summary>The table frames of a domain (for the auditor and tests); empty without a table.</summary>
    public IReadOnlyList<uint> TableFramesOf(ushort domid) => _tables.TryGetValue(domid, out var t) ? t.FrameMfns : [];

    /// <summary>Entry <paramref name="gref"/> of a domain's grant table, read from the table's frame; null if there is no such entry.</summary>
    public GrantEntry? EntryOf(ushort granter, uint gref) =>
        _tables.TryGetValue(granter, out var t) && gref < t.Entries ? t.Read(gref) : null;

    /// <summary>The live mappings a domain holds as grantee.</summary>
    public IEnumerable<GrantMapping> MappingsHeldBy(ushort grantee) =>
        _maptrack.TryGetValue(grantee, out var list) ? list.OfType<GrantMapping>() : [];

    /// <summary>GNTTABOP_setup_table: gives the domain a table of <paramref name="frames"/> frames (grown, never shrunk).</summary>
    public XenErrno SetupTable(ushort domid, int frames)
    {
        const string call = "grant_table_op setup_table";
        if (!_hv.TryGetDomain(domid, call, 0, out var d, out var missing)) return missing;
        if (frames < 1 || frames > MaxTableFrames) return Refuse(d, call, XenErrno.EINVAL, RefusalCause.BadConfiguration, frames);
        var table = TableOf(d);
        int had = table.Frames;
        if (!table.Grow(frames, d.PreferredNode)) return Refuse(d, call, XenErrno.ENOMEM, RefusalCause.OutOfMemory, frames - had);
        TableFrames += table.Frames - had;
        Counters.TablesSetUp++;
        return XenErrno.Ok;
    }

    /// <summary>The guest grants <paramref name="grantee"/> access to its page at <paramref name="gfn"/> by filling entry <paramref name="gref"/> (gnttab_grant_foreign_access).</summary>
    public XenErrno GrantAccess(ushort granter, uint gref, ushort grantee, ulong gfn, bool readOnly)
    {
        const string call = "grant_foreign_access";
        if (!_hv.TryGetDomain(granter, call, 0, out var d, out var missing)) return missing;
        if (!_tables.TryGetValue(granter, out var t) || gref >= t.Entries || gfn > uint.MaxValue)
            return Refuse(d, call, XenErrno.EINVAL, RefusalCause.BadGfn, gref);
        if (t.Read(gref).InUse) return Refuse(d, call, XenErrno.EBUSY, RefusalCause.GrantInUse, gref);
        t.Write(gref, GrantEntry.Access(grantee, (uint)gfn, readOnly));
        return XenErrno.Ok;
    }

    /// <summary>The guest ends a grant (gnttab_end_foreign_access_ref): refused while the entry is mapped.</summary>
    public XenErrno EndAccess(ushort granter, uint gref)
    {
        const string call = "end_foreign_access";
        if (!_hv.TryGetDomain(granter, call, 0, out var d, out var missing)) return missing;
        if (!_tables.TryGetValue(granter, out var t) || gref >= t.Entries) return Refuse(d, call, XenErrno.EINVAL, RefusalCause.BadGfn, gref);
        if (t.Read(gref).InUse) return Refuse(d, call, XenErrno.EBUSY, RefusalCause.GrantInUse, gref);
        t.Write(gref, new GrantEntry(0));
        return XenErrno.Ok;
    }

    /// <summary>
    /// GNTTABOP_map_grant_ref: maps the page <paramref name="granter"/> granted under <paramref name="gref"/> at the
    /// grantee's gfn <paramref name="at"/>, which must hold nothing (Linux maps into ballooned-out gfns). The granter's
    /// page is brought in first if it is paged out, compressed or shared (Xen answers GNTST_eagain for a paged-out one,
    /// which the guest retries, and unshares a shared one for a writable mapping; here every mapping gets a page of the
    /// granter's own). Returns the mapping's handle.
    /// </summary>
    public XenErrno Map(ushort grantee, ushort granter, uint gref, ulong at, bool readOnly, out uint handle)
    {
        const string call = "grant_table_op map_grant_ref";
        handle = uint.MaxValue;
        if (!_hv.TryGetDomain(grantee, call, 0, out var g, out var missing)) return missing;
        if (!_hv.TryGetDomain(granter, call, 0, out var d, out missing)) return missing;
        if (d == g) return Refuse(g, call, XenErrno.EINVAL, RefusalCause.NotPermitted, granter);
        var check = CheckGrant(g, d, gref, write: !readOnly, call, out var entry);
        if (check != XenErrno.Ok) return check;
        if (at >= g.P2m.Capacity || g.P2m.Get(at).Type != P2mType.Invalid) return Refuse(g, call, XenErrno.EINVAL, RefusalCause.GfnAlreadyPopulated, (long)Math.Min(at, long.MaxValue));
        if (entry.Frame >= d.P2m.Capacity || d.P2m.Get(entry.Frame).Type == P2mType.Invalid) return Refuse(g, call, XenErrno.EINVAL, RefusalCause.GfnNotPopulated, entry.Frame);
        if (d.Port is not DomainPort port || !port.ResolveForGrant(entry.Frame, out uint mfn)) return Refuse(g, call, XenErrno.ENOMEM, RefusalCause.OutOfMemory, 1);
        // A PV granter's frame mapped writable takes the writable type (map_grant_ref's get_page_type(PGT_writable_page)):
        // a page table of the granter cannot be mapped writable, and a mapped frame cannot become one.
        bool typed = d.IsPv && !readOnly;
        if (typed && PageTypes.TakeWritable(ref _hv.Machine.Frames[mfn]) != XenErrno.Ok) return Refuse(g, call, XenErrno.EBUSY, RefusalCause.NotPermitted, gref);
        g.P2m.Set(at, P2mEntry.GrantMap(mfn, readOnly));
        _hv.Machine.Frames[mfn].RefCount++;
        _mapped[mfn] = _mapped.GetValueOrDefault(mfn) + 1;
        if (typed) _typed[mfn] = _typed.GetValueOrDefault(mfn) + 1;
        var list = _maptrack.TryGetValue(grantee, out var l) ? l : _maptrack[grantee] = [];
        int free = list.IndexOf(null);
        var mapping = new GrantMapping(granter, gref, at, mfn, readOnly) { HoldsWritableType = typed };
        if (free < 0) list.Add(mapping); else list[free] = mapping;
        handle = (uint)(free < 0 ? list.Count - 1 : free);
        SetInUse(granter, gref);
        Mappings++;
        Counters.Maps++;
        Counters.PeakMapped = Math.Max(Counters.PeakMapped, Mappings);
        g.Counters.HypervisorNs += _hv.Costs.HypercallNs;
        return XenErrno.Ok;
    }

    /// <summary>GNTTABOP_unmap_grant_ref: removes the grantee's mapping <paramref name="handle"/> and drops its reference.</summary>
    public XenErrno Unmap(ushort grantee, uint handle)
    {
        const string call = "grant_table_op unmap_grant_ref";
        if (!_hv.TryGetDomain(grantee, call, 0, out var g, out var missing)) return missing;
        if (!_maptrack.TryGetValue(grantee, out var list) || handle >= list.Count || list[(int)handle] is not { } m)
            return Refuse(g, call, XenErrno.EINVAL, RefusalCause.BadGfn, handle);
        Release(g, list, (int)handle, m);
        g.Counters.HypervisorNs += _hv.Costs.HypercallNs;
        return XenErrno.Ok;
    }

    /// <summary>
    /// GNTTABOP_copy: copies <paramref name="length"/> bytes at <paramref name="offset"/> from one page to the same
    /// place in another, for <paramref name="caller"/>. Each side is the caller's own gfn, or a page another domain
    /// granted the caller (read-only grants may only be a source).
    /// </summary>
    public XenErrno Copy(ushort caller, GrantCopySide source, GrantCopySide destination, int offset, int length)
    {
        const string call = "grant_table_op copy";
        if (!_hv.TryGetDomain(caller, call, 0, out var c, out var missing)) return missing;
        if (offset < 0 || length < 1 || offset > PageSize.Bytes || length > PageSize.Bytes - offset) return Refuse(c, call, XenErrno.EINVAL, RefusalCause.BadGfn, length);
        var check = Side(c, source, write: false, call, out var src, out ulong srcGfn);
        if (check != XenErrno.Ok) return check;
        check = Side(c, destination, write: true, call, out var dst, out ulong dstGfn);
        if (check != XenErrno.Ok) return check;
        // The destination is written as a writable page (gnttab_copy_claim_buf takes PGT_writable_page): a PV domain's page table is refused.
        if (dst.IsPv && dstGfn < dst.P2m.Capacity && dst.P2m.Get(dstGfn) is { HasFrame: true } de && PageTypes.IsTable(_hv.Machine.Frames[de.Mfn].Type)
            && _hv.Machine.Frames[de.Mfn].TypeCount > 0)
            return Refuse(c, call, XenErrno.EBUSY, RefusalCause.NotPermitted, (long)dstGfn);
        if (!src.Port.ReadPage(new Gfn(srcGfn), _src) || !dst.Port.ReadPage(new Gfn(dstGfn), _dst))
            return Refuse(c, call, XenErrno.EFAULT, RefusalCause.GfnNotPopulated, 1);
        _src.AsSpan(offset, length).CopyTo(_dst.AsSpan(offset, length));
        if (!dst.Port.WritePage(new Gfn(dstGfn), _dst)) return Refuse(c, call, XenErrno.ENOMEM, RefusalCause.OutOfMemory, 1);
        Counters.Copies++;
        Counters.BytesCopied += length;
        c.Counters.HypervisorNs += _hv.Costs.HypercallNs + _hv.Costs.TmemOpNs;
        return XenErrno.Ok;
    }

    /// <summary>The guest offers to take a page from <paramref name="sender"/> into its empty gfn <paramref name="gfn"/> by filling entry <paramref name="gref"/> (gnttab_grant_foreign_transfer).</summary>
    public XenErrno AcceptTransfer(ushort receiver, uint gref, ushort sender, ulong gfn)
    {
        const string call = "grant_foreign_transfer";
        if (!_hv.TryGetDomain(receiver, call, 0, out var r, out var missing)) return missing;
        if (!_tables.TryGetValue(receiver, out var t) || gref >= t.Entries || gfn > uint.MaxValue)
            return Refuse(r, call, XenErrno.EINVAL, RefusalCause.BadGfn, gref);
        if (t.Read(gref).InUse) return Refuse(r, call, XenErrno.EBUSY, RefusalCause.GrantInUse, gref);
        t.Write(gref, new GrantEntry(GrantEntry.AcceptTransfer | ((ulong)sender << 16) | ((ulong)gfn << 32)));
        return XenErrno.Ok;
    }

    /// <summary>
    /// GNTTABOP_transfer, the Xen paper's page flipping: <paramref name="sender"/> gives its page at
    /// <paramref name="gfn"/> to the domain whose entry <paramref name="gref"/> accepts a transfer from it. The frame
    /// changes owner with its bytes (no copy and no scrub: handing the bytes over is the point); it leaves the sender's
    /// p2m and tot_pages and enters the receiver's at the gfn the entry names, which must hold nothing and fit in its
    /// max_pages. The entry is marked transfer-completed. A page another domain has mapped cannot be given away.
    /// </summary>
    public XenErrno Transfer(ushort sender, ulong gfn, ushort receiver, uint gref)
    {
        const string call = "grant_table_op transfer";
        if (!_hv.TryGetDomain(sender, call, 0, out var s, out var missing)) return missing;
        if (!_hv.TryGetDomain(receiver, call, 0, out var r, out missing)) return missing;
        if (!_tables.TryGetValue(receiver, out var t) || gref >= t.Entries) return Refuse(s, call, XenErrno.EINVAL, RefusalCause.BadGfn, gref);
        var entry = t.Read(gref);
        if ((entry.Flags & 3) != GrantEntry.AcceptTransfer || (entry.Flags & GrantEntry.TransferCompleted) != 0 || entry.DomId != sender || r == s)
            return Refuse(s, call, XenErrno.EPERM, RefusalCause.NotPermitted, gref);
        if (entry.Frame >= r.P2m.Capacity || r.P2m.Get(entry.Frame).Type != P2mType.Invalid)
            return Refuse(s, call, XenErrno.EINVAL, RefusalCause.GfnAlreadyPopulated, entry.Frame);
        if (r.TotPages + 1 > r.MaxPages) return Refuse(s, call, XenErrno.E2BIG, RefusalCause.OverMaxPages, 1);
        if (gfn >= s.P2m.Capacity || s.P2m.Get(gfn) is var e && (e.Type == P2mType.Invalid || e.IsGrantMap))
            return Refuse(s, call, XenErrno.EINVAL, RefusalCause.GfnNotPopulated, (long)Math.Min(gfn, long.MaxValue));
        if (s.Port is not DomainPort port || !port.ResolveForGrant(gfn, out uint mfn)) return Refuse(s, call, XenErrno.ENOMEM, RefusalCause.OutOfMemory, 1);
        // steal_page gives only a page nothing else holds: no reference and no type (a pinned or base page table has a type).
        if (IsMapped(mfn) || _hv.Machine.Frames[mfn].RefCount != 0 || _hv.Machine.Frames[mfn].TypeCount != 0)
            return Refuse(s, call, XenErrno.EBUSY, RefusalCause.GrantMapped, (long)gfn);
        s.P2m.Set(gfn, P2mEntry.Invalid);
        Host.MarkDirty(s, gfn);
        s.TotPages--;
        _hv.Machine.Frames[mfn].Owner = receiver;
        _hv.MapFrame(r, entry.Frame, mfn);
        t.Write(gref, entry.WithFlags((ushort)(entry.Flags | GrantEntry.TransferCommitted | GrantEntry.TransferCompleted)));
        Counters.Transfers++;
        s.Counters.HypervisorNs += _hv.Costs.HypercallNs;
        return XenErrno.Ok;
    }

    /// <summary>A domain is being destroyed: the mappings it holds are released, so are other domains' mappings of its pages, and its table frames are freed.</summary>
    internal void DomainDestroyed(Domain d)
    {
        if (_maptrack.Remove(d.DomId, out var held))
            for (int h = 0; h < held.Count; h++)
                if (held[h] is { } m) Release(d, held, h, m);
        foreach (var (grantee, list) in _maptrack)
            for (int h = 0; h < list.Count; h++)
                if (list[h] is { } m && m.Granter == d.DomId && _hv.Find(grantee) is { } g) Release(g, list, h, m);
        if (_tables.Remove(d.DomId, out var t))
        {
            TableFrames -= t.Frames;
            t.Release();
        }
    }

    // One side of a copy: the caller's own page, or a page granted to it.
    private XenErrno Side(Domain caller, GrantCopySide side, bool write, string call, out Domain owner, out ulong gfn)
    {
        owner = caller;
        gfn = side.GfnOrRef;
        if (side.DomId == caller.DomId) return XenErrno.Ok;
        if (!_hv.TryGetDomain(side.DomId, call, 0, out var other, out var missing)) return missing;
        owner = other;
        if (side.GfnOrRef > uint.MaxValue) return Refuse(caller, call, XenErrno.EINVAL, RefusalCause.BadGfn, long.MaxValue);
        var check = CheckGrant(caller, owner, (uint)side.GfnOrRef, write, call, out var entry);
        gfn = entry.Frame;
        return check;
    }

    // The entry must exist, permit access to the grantee, and not be read-only for a write.
    private XenErrno CheckGrant(Domain grantee, Domain granter, uint gref, bool write, string call, out GrantEntry entry)
    {
        entry = default;
        if (!_tables.TryGetValue(granter.DomId, out var t) || gref >= t.Entries) return Refuse(grantee, call, XenErrno.EINVAL, RefusalCause.BadGfn, gref);
        entry = t.Read(gref);
        if (!entry.PermitsAccess || entry.DomId != grantee.DomId || (write && entry.IsReadOnly))
            return Refuse(grantee, call, XenErrno.EPERM, RefusalCause.NotPermitted, gref);
        // A granter may grant only its own pages: a gfn where it has a third domain's page mapped reaches nothing
        // (Xen's map and copy take the granter's own page through get_page, which a foreign frame fails).
        if (entry.Frame < granter.P2m.Capacity && granter.P2m.Get(entry.Frame).IsGrantMap)
            return Refuse(grantee, call, XenErrno.EPERM, RefusalCause.NotPermitted, gref);
        return XenErrno.Ok;
    }

    /// <summary>The grantee's gfn <paramref name="gfn"/> holds a grant mapping that is being removed by other means: the mapping is released as an unmap would.</summary>
    internal void UnmapAt(Domain g, ulong gfn)
    {
        if (!_maptrack.TryGetValue(g.DomId, out var list)) return;
        for (int h = 0; h < list.Count; h++)
            if (list[h] is { } m && m.At == gfn)
            {
                Release(g, list, h, m);
                return;
            }
    }

    /// <summary>The granter of the frame a grantee has mapped at <paramref name="mfn"/>, for what watches the granter's writes.</summary>
    internal Domain? GranterOf(uint mfn) => _hv.Find(_hv.Machine.Frames[mfn].Owner);

    private void Release(Domain g, List<GrantMapping?> list, int handle, GrantMapping m)
    {
        // A PV grantee's TLB may hold the mapping (one detached from its table too): every unmap flushes it, as Xen's does.
        if (m.HasPte) ClearPte(g, m);
        else if (g.IsPv) g.Mmu?.Tlb.FlushAll();
        g.P2m.Set(m.At, P2mEntry.Invalid);
        _hv.Machine.Frames[m.Mfn].RefCount--;
        if (--_mapped[m.Mfn] == 0) _mapped.Remove(m.Mfn);
        if (m.HoldsWritableType)
        {
            PageTypes.DropWritable(ref _hv.Machine.Frames[m.Mfn]);
            if (--_typed[m.Mfn] == 0) _typed.Remove(m.Mfn);
        }
        list[handle] = null;
        Mappings--;
        Counters.Unmaps++;
        SetInUse(m.Granter, m.Ref);
    }

    // The entry's reading and writing bits say whether any mapping of it is left, and whether a writable one is.
    private void SetInUse(ushort granter, uint gref)
    {
        if (!_tables.TryGetValue(granter, out var t)) return;
        bool reading = false, writing = false;
        foreach (var list in _maptrack.Values)
            foreach (var m in list)
                if (m is { } x && x.Granter == granter && x.Ref == gref)
                {
                    reading = true;
                    writing |= !x.ReadOnly;
                }
        var e = t.Read(gref);
        ushort flags = (ushort)(e.Flags & ~(GrantEntry.Reading | GrantEntry.Writing));
        if (reading) flags |= GrantEntry.Reading;
        if (writing) flags |= GrantEntry.Writing;
        t.Write(gref, e.WithFlags(flags));
    }

    private GrantTable TableOf(Domain d) => _tables.TryGetValue(d.DomId, out var t) ? t : _tables[d.DomId] = new GrantTable(_hv.Machine);

    private XenErrno Refuse(Domain d, string call, XenErrno errno, RefusalCause cause, long requested)
    {
        Counters.Refused++;
        d.Counters.Refusals++;
        return _hv.Refusals.Record(d.DomId, d.Name, call, errno, cause, requested, _hv.Machine.FreeFrames);
    }
}

/// <summary>One side of a grant copy: the caller's own gfn (DomId is the caller), or another domain's grant reference.</summary>
public readonly record struct GrantCopySide(ushort DomId, ulong GfnOrRef);
