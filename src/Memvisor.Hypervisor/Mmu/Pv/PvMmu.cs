using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Seam;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Lanes;

namespace Memvisor.Hypervisor.Mmu.Pv;

/// <summary>
/// Xen's paravirtualized MMU (direct paging, xen/arch/x86/mm.c): the guest's tables hold machine frame numbers and
/// are mapped read-only to it; it changes them only through mmu_update, whose every entry is validated against the
/// frame's owner, type and reference counts (a refused entry changes nothing and the rest of the batch goes on),
/// and through mmuext_op (pin and unpin tables, new_baseptr, TLB flushes). The hardware walks the guest's tables
/// directly and sets their accessed and dirty bits. The hypervisor sits in every address space, so entering it
/// flushes nothing. Guest-facing calls take gfns and convert them, as a PV Linux's pte operations do with its
/// pfn-to-mfn list and the m2p.
/// </summary>
public sealed class PvMmu : GuestMmu
{
    private PageTypes _types;
    private readonly MmuUpdate[] _queue;
    private readonly XenErrno[] _results;
    private readonly HashSet<uint> _pinned = [];
    private int _queued;
    private uint _base = uint.MaxValue;

    internal PvMmu(Host hv, Domain domain, IGuestMemory memory, MmuOptions options) : base(hv, domain, memory, options)
    {
        _types = new PageTypes(hv.Machine, domain.DomId) { TableTypeChanged = TypeChanged };
        _queue = new MmuUpdate[Math.Max(1, options.PvBatch)];
        _results = new XenErrno[_queue.Length];
    }

    public long EntriesValidated => _types.EntriesValidated;

    /// <summary>The tables pinned now and the base table (uint.MaxValue for none), as machine frames, for the auditor.</summary>
    internal IReadOnlyCollection<uint> PinnedMfns => _pinned;
    internal uint BaseMfn => _base;

    /// <summary>The pinned tables as gfns with their levels, and the base table's gfn (or null): what a save or a migration carries so the new domain can pin them again.</summary>
    internal (IReadOnlyList<(ulong Gfn, int Level)> Pinned, ulong? Base) PinnedTables()
    {
        Submit();
        var pinned = _pinned.Order().Select(mfn => ((ulong)Hv.M2p[mfn], PageTypes.LevelOf(Hv.Machine.Frames[mfn].Type))).ToList();
        return (pinned, _base == uint.MaxValue ? null : Hv.M2p[_base]);
    }

    // The vCPU resumes in a restored or migrated domain whose tables hold its new frames (the image's gfns were turned
    // back into machine frames): the types and pins of the old frames go, and the tables are pinned again, which
    // validates them, as Xen's restore pins the L4s it is given (xg_sr_restore_x86_pv.c).
    internal override void MoveTo(Host hv, Domain domain)
    {
        base.MoveTo(hv, domain);
        _types = new PageTypes(hv.Machine, domain.DomId) { TableTypeChanged = TypeChanged };
        _pinned.Clear();
        _queued = 0;
        _base = uint.MaxValue;
    }

    /// <summary>Pins the saved tables and loads the saved base again; false if one does not validate.</summary>
    internal bool Repin(IReadOnlyList<(ulong Gfn, int Level)> pinned, ulong? baseGfn)
    {
        foreach (var (gfn, level) in pinned)
            if (Pin(gfn, level) != XenErrno.Ok) return false;
        return baseGfn is not { } b || (TryMfn(b, out uint mfn) && MmuextOp(MmuextCmd.NewBaseptr, mfn) == XenErrno.Ok);
    }

    // ---- hypercalls ----

    /// <summary>
    /// HYPERVISOR_mmu_update: each request is checked on its own; <paramref name="results"/> gets each one's errno.
    /// Returns Ok if every request was applied, else the first refusal's errno.
    /// </summary>
    public XenErrno MmuUpdateOp(ReadOnlySpan<MmuUpdate> requests, Span<XenErrno> results)
    {
        Turn.Take();
        Counters.Hypercalls++;
        Charge(Costs.HypercallNs);
        var first = XenErrno.Ok;
        for (int i = 0; i < requests.Length; i++)
        {
            long before = _types.EntriesValidated;
            _types.BeginOperation();
            var err = Apply(requests[i]);
            Charge((1 + _types.EntriesValidated - before) * Costs.PvValidateEntryNs);
            results[i] = err;
            Counters.Updates++;
            if (err == XenErrno.Ok) continue;
            Counters.UpdatesRefused++;
            if (first == XenErrno.Ok) first = err;
        }
        return first;
    }

    private XenErrno Apply(MmuUpdate u)
    {
        if ((uint)u.Index >= 512) return XenErrno.EINVAL;
        if (!_types.Owns(u.TableMfn)) return XenErrno.EPERM;
        ref var f = ref Hv.Machine.Frames[u.TableMfn];
        if (f.TypeCount == 0 || !PageTypes.IsTable(f.Type))
        {
            // Not (yet) a page table: an ordinary checked write to a page of the domain's own.
            if (f.TypeCount > 0 && f.Type != PageType.Writable) return XenErrno.EBUSY;
            Hv.Machine.WriteWord(u.TableMfn, u.Index, u.Value);
            Wrote(u.TableMfn);
            return XenErrno.Ok;
        }
        int level = PageTypes.LevelOf(f.Type);
        if (level == 4 && u.Index >= PageTypes.HypervisorFirstSlot && u.Index <= PageTypes.HypervisorLastSlot) return XenErrno.EPERM;
        ulong old = Hv.Machine.ReadWord(u.TableMfn, u.Index);
        // Only the accessed and dirty bits changing: nothing to validate (Xen's fast path).
        if (X86Pte.IsPresent(old) && X86Pte.IsPresent(u.Value) && ((old ^ u.Value) & ~(X86Pte.Accessed | X86Pte.Dirty)) == 0)
        {
            Hv.Machine.WriteWord(u.TableMfn, u.Index, u.Value);
            Wrote(u.TableMfn);
            return XenErrno.Ok;
        }
        // A grant mapping's entry goes only with its unmap: Xen's debug build answers this update with #GP ("Attempt to
        // implicitly unmap a granted PTE", mm.c's put_page_from_l1e); here it is refused and counted.
        if (level == 1 && X86Pte.IsPresent(old) && (old & X86Pte.GrantMapped) != 0) return XenErrno.EPERM;
        if (X86Pte.IsPresent(u.Value))
        {
            var err = _types.GetEntry(level, u.Value);
            if (err != XenErrno.Ok) return err;
        }
        Hv.Machine.WriteWord(u.TableMfn, u.Index, u.Value);
        Wrote(u.TableMfn);
        if (X86Pte.IsPresent(old)) _types.PutEntry(level, old);
        return XenErrno.Ok;
    }

    // An mmu_update wrote the table: log-dirty mode sees it as Xen's paging_mark_dirty does (a migration resends it).
    private void Wrote(uint tableMfn) => Host.MarkDirty(Domain, Hv.M2p[tableMfn]);

    // A frame became a page table or stopped being one: it is resent, and a table that lost its type leaves the grant
    // entries in it without a table (free_l1_table's implicit unmap).
    private void TypeChanged(uint mfn)
    {
        Wrote(mfn);
        if (Hv.Machine.Frames[mfn].TypeCount == 0) Hv.Grants.TableDevalidated(Domain, mfn);
    }

    /// <summary>HYPERVISOR_mmuext_op, one command: <paramref name="arg"/> is a table mfn, or a virtual page for InvlpgLocal.</summary>
    public XenErrno MmuextOp(MmuextCmd cmd, ulong arg)
    {
        Turn.Take();
        Counters.Hypercalls++;
        Counters.ExtOps++;
        Charge(Costs.HypercallNs);
        long before = _types.EntriesValidated;
        _types.BeginOperation();
        var err = Ext(cmd, arg);
        Charge((_types.EntriesValidated - before) * Costs.PvValidateEntryNs);
        if (err != XenErrno.Ok) Counters.ExtOpsRefused++;
        return err;
    }

    private XenErrno Ext(MmuextCmd cmd, ulong arg)
    {
        uint mfn = (uint)Math.Min(arg, uint.MaxValue);
        switch (cmd)
        {
            case MmuextCmd.PinL1Table or MmuextCmd.PinL2Table or MmuextCmd.PinL3Table or MmuextCmd.PinL4Table:
            {
                if (_pinned.Contains(mfn)) return XenErrno.EINVAL;
                var err = _types.GetType(mfn, (PageType)((int)PageType.L1 + (int)cmd));
                if (err == XenErrno.Ok) _pinned.Add(mfn);
                return err;
            }
            case MmuextCmd.UnpinTable:
                if (!_pinned.Remove(mfn)) return XenErrno.EINVAL;
                _types.PutType(mfn);
                return XenErrno.Ok;
            case MmuextCmd.NewBaseptr:
            {
                // The new base takes an L4 type reference: a table that does not validate cannot become CR3.
                var err = _types.GetType(mfn, PageType.L4);
                if (err != XenErrno.Ok) return err;
                if (_base != uint.MaxValue) _types.PutType(_base);
                _base = mfn;
                return XenErrno.Ok;
            }
            case MmuextCmd.TlbFlushLocal:
                Tlb.FlushAll();
                return XenErrno.Ok;
            case MmuextCmd.InvlpgLocal:
                Tlb.Invalidate(Asid, arg);
                return XenErrno.Ok;
            default:
                return XenErrno.EINVAL;
        }
    }

    // ---- the guest's view (gfns) ----

    private bool TryMfn(ulong gfn, out uint mfn)
    {
        var e = Domain.P2m.Get(gfn);
        mfn = e.Mfn;
        return e.HasFrame;
    }

    // Entry (table, index) as the guest reads it: its frame as a gfn. The hypervisor's own entries name frames beyond
    // RAM and are shown as they are; a grant entry names another domain's frame, shown by the gfn the guest's own p2m
    // gives it (the granter's gfn means nothing to the grantee), or, with no mapping of the frame left, as not present.
    private ulong ToGuest(ulong e, uint table, int index)
    {
        if (!X86Pte.IsPresent(e) || X86Pte.Frame(e) >= (ulong)Hv.Machine.TotalFrames) return e;
        uint frame = (uint)X86Pte.Frame(e);
        if ((e & X86Pte.GrantMapped) == 0) return X86Pte.Make(Hv.M2p[frame], e & ~X86Pte.AddressMask);
        ulong? gfn = Hv.Grants.LocalGfnOf(Domain.DomId, table, index) ?? Hv.Grants.HeldGfnOf(Domain.DomId, frame);
        return gfn is { } g ? X86Pte.Make(g, e & ~X86Pte.AddressMask) : 0;
    }

    public override ulong ReadEntry(ulong table, int index)
    {
        if (!TryMfn(table, out uint mfn)) return 0;
        for (int i = _queued - 1; i >= 0; i--)
            if (_queue[i].TableMfn == mfn && _queue[i].Index == index) return ToGuest(_queue[i].Value, mfn, index);
        return ToGuest(Hv.Machine.ReadWord(mfn, index), mfn, index);
    }

    /// <summary>Queues the update in the lazy-MMU batch (issued when full, and before the vCPU next translates or switches).</summary>
    public override bool WriteEntry(ulong table, int index, ulong value)
    {
        Turn.Take();
        if (!TryMfn(table, out uint mfn)) return false;
        ulong machineValue = value;
        if (X86Pte.IsPresent(value))
        {
            if (!TryMfn(X86Pte.Frame(value), out uint target)) return false;
            machineValue = X86Pte.Make(target, value & ~X86Pte.AddressMask);
        }
        _queue[_queued++] = new MmuUpdate(mfn, index, machineValue);
        if (_queued == _queue.Length) Submit();
        return true;
    }

    public override void Submit()
    {
        if (_queued == 0) return;
        Turn.Take();
        MmuUpdateOp(_queue.AsSpan(0, _queued), _results.AsSpan(0, _queued));
        _queued = 0;
    }

    public override bool SwitchAddressSpace(ulong root, int asid)
    {
        Turn.Take();
        Submit();
        if (!TryMfn(root, out uint mfn)) return false;
        if (mfn == _base)
        {
            Root = root;
            Asid = asid;
            return true;
        }
        if (MmuextOp(MmuextCmd.NewBaseptr, mfn) != XenErrno.Ok) return false;
        Root = root;
        Asid = asid;
        // A PV guest's address spaces carry no tag: loading a new base flushes the TLB.
        Tlb.Reload(asid);
        return true;
    }

    public override void ReleaseAddressSpace(ulong root)
    {
        Turn.Take();
        Submit();
        if (TryMfn(root, out uint mfn) && _pinned.Contains(mfn)) MmuextOp(MmuextCmd.UnpinTable, mfn);
    }

    public override bool LargePages => false;

    public override bool PinTopLevel(ulong root) => Pin(root, X86Pte.Levels) == XenErrno.Ok;

    /// <summary>Pins a table the guest has built (MMUEXT_PIN_Ln_TABLE), as Linux pins a new process's pgd.</summary>
    public XenErrno Pin(ulong tableGfn, int level)
    {
        Turn.Take();
        Submit();
        return TryMfn(tableGfn, out uint mfn) ? MmuextOp((MmuextCmd)(level - 1), mfn) : XenErrno.EINVAL;
    }

    public override void Invlpg(ulong vpn)
    {
        Turn.Take();
        Submit();
        MmuextOp(MmuextCmd.InvlpgLocal, vpn);
    }

    public override void FlushTlb()
    {
        Turn.Take();
        Submit();
        MmuextOp(MmuextCmd.TlbFlushLocal, 0);
    }

    public override Translation Translate(Vpn page, bool write)
    {
        ulong vpn = page.Value;
        if (Tlb.TryTranslate(Asid, vpn, write, out ulong hit, out bool w)) return Translation.Ok(hit, w, 0, 0, 0, 1);
        // A walk of PV tables reads and sets bits in frames the type counts govern: it waits for the lane's turn.
        Turn.Take();
        Submit();
        int refs = 0, index = 0, level;
        ulong e = 0;
        uint table;
        if (Tlb.TryGetPageTable(Asid, vpn, out ulong cached))
        {
            table = (uint)cached;
            level = 1;
            index = (int)(vpn & 511);
            e = Hv.Machine.ReadWord(table, index);
            refs = 1;
        }
        else
        {
            table = _base;
            for (level = X86Pte.Levels; ; level--)
            {
                index = X86Pte.IndexAt(vpn, level);
                e = table == uint.MaxValue ? 0 : Hv.Machine.ReadWord(table, index);
                refs++;
                if (!X86Pte.IsPresent(e) || X86Pte.IsLeaf(e, level)) break;
                if (level == 4 && index >= PageTypes.HypervisorFirstSlot && index <= PageTypes.HypervisorLastSlot)
                {
                    e = 0; // the hypervisor's own slots: no guest page lives there
                    break;
                }
                table = (uint)X86Pte.Frame(e);
                if (level == 2) Tlb.FillPageTable(Asid, vpn, table);
            }
        }
        ChargeWalk(refs);
        ulong tableGfn = table == uint.MaxValue ? 0 : Hv.M2p[table];
        ulong gfn = 0;
        bool present = X86Pte.IsPresent(e);
        if (present && level == 1 && (e & X86Pte.GrantMapped) != 0)
        {
            // Another domain's frame, mapped through a grant: the guest knows it by the gfn its own p2m gives it (a
            // validated table holds no grant entry but a live mapping's).
            if (Hv.Grants.LocalGfnOf(Domain.DomId, table, index) is { } local) gfn = local;
            else present = false;
        }
        else if (present) gfn = Hv.M2p[(uint)X86Pte.Frame(e)];
        if (!present || (write && (e & X86Pte.Writable) == 0))
        {
            // A PV guest's page fault enters Xen first, which bounces it to the guest's handler.
            Counters.Exits[(int)ExitReason.PageFault]++;
            Charge(Costs.HypercallNs);
            Counters.DemandFaults++;
            return Translation.Fault(ToGuest(e, table, index), tableGfn, index, level);
        }
        ulong updated = e | X86Pte.Accessed | (write ? X86Pte.Dirty : 0);
        if (updated != e) Hv.Machine.WriteWord(table, index, updated);
        bool writable = (e & X86Pte.Writable) != 0;
        Tlb.Fill(Asid, vpn, gfn, writable, (updated & X86Pte.Dirty) != 0);
        return Translation.Ok(gfn, writable, ToGuest(updated, table, index), tableGfn, index, level);
    }
}
