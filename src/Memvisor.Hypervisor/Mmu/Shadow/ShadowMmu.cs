using Memvisor.Hypervisor.Domains;
using Memvisor.Seam;

namespace Memvisor.Hypervisor.Mmu.Shadow;

/// <summary>
/// Shadow paging (Xen's arch/x86/mm/shadow): the hardware walks shadow tables the hypervisor builds from the guest's
/// tables and p2m; every guest page that is shadowed as a table is write-protected. Shadows are made lazily, on the
/// fault of a walk that finds a not-present shadow entry whose guest entry is present ("pulled through"), and
/// dropped when nothing links to them. A shadow L1 entry is present only once the guest entry has its accessed bit,
/// and writable only once it has its dirty bit, as Xen's propagation does, so the guest's A/D bits stay exact.
/// Shadow-2 traps and emulates every write to a shadowed table. Shadow-3 (Xen 3.3) lets an L1 go out of sync on its
/// first write: the guest then writes it freely until the next CR3 switch, an INVLPG of an address it maps, or more
/// than the limit of out-of-sync pages, when it is resynced. L2 and higher are always emulated.
/// </summary>
public sealed class ShadowMmu : GuestMmu
{
    internal const ulong Fl1Key = 1UL << 63;
    private readonly List<ShadowTable?> _pool = [];
    private readonly Stack<int> _free = new();
    private readonly Dictionary<ulong, int> _byKey = [];
    private readonly List<int> _outOfSync = [];
    private int _root = -1;

    internal ShadowMmu(Host hv, Domain domain, IGuestMemory memory, MmuOptions options) : base(hv, domain, memory, options) { }

    private bool Oos => Mode == MmuMode.Shadow3;

    // Shadows hold the old domain's frames: all go (as Xen's shadow_teardown), and the current address space is shadowed afresh.
    internal override void MoveTo(Host hv, Domain domain)
    {
        base.MoveTo(hv, domain);
        bool loaded = _root >= 0;
        Counters.ShadowsRemoved += _byKey.Count;
        _pool.Clear();
        _free.Clear();
        _byKey.Clear();
        _outOfSync.Clear();
        _root = -1;
        if (loaded) Pin(Root);
    }
    public int ShadowCount => _byKey.Count;
    public int OutOfSyncCount => _outOfSync.Count;

    // ---- the hardware walk ----

    public override Translation Translate(Vpn page, bool write)
    {
        ulong vpn = page.Value;
        if (Tlb.TryTranslate(Asid, vpn, write, out ulong hit, out bool w)) return Translation.Ok(hit, w, 0, 0, 0, 1);
        if (_root < 0) Pin(Root);
        int refs = 0, si, level;
        ulong e = 0;
        if (Tlb.TryGetPageTable(Asid, vpn, out ulong cached))
        {
            si = (int)cached;
            level = 1;
            e = _pool[si]!.Entries[vpn & 511];
            refs = 1;
        }
        else
        {
            si = _root;
            for (level = X86Pte.Levels; ; level--)
            {
                e = _pool[si]!.Entries[X86Pte.IndexAt(vpn, level)];
                refs++;
                if (!X86Pte.IsPresent(e) || level == 1) break;
                si = (int)X86Pte.Frame(e);
                if (level == 2) Tlb.FillPageTable(Asid, vpn, (ulong)si);
            }
        }
        ChargeWalk(refs);
        if (level == 1 && X86Pte.IsPresent(e) && (!write || (e & X86Pte.Writable) != 0))
        {
            bool writable = (e & X86Pte.Writable) != 0;
            Tlb.Fill(Asid, vpn, X86Pte.Frame(e), writable, dirty: writable);
            return Translation.Ok(X86Pte.Frame(e), writable, 0, 0, 0, 1);
        }
        Exit(ExitReason.PageFault, Costs.ShadowFaultNs);
        return Fault(vpn, write);
    }

    // The shadow fault handler: walks the guest's tables; a missing or read-only guest entry is the guest's own
    // fault (injected), otherwise the shadow is filled in along the way and the access retried.
    private Translation Fault(ulong vpn, bool write)
    {
        int parent = _root;
        ulong table = Root;
        for (int level = X86Pte.Levels; level >= 1; level--)
        {
            int index = X86Pte.IndexAt(vpn, level);
            ulong g = ReadEntry(table, index);
            if (!X86Pte.IsPresent(g) || (write && (g & X86Pte.Writable) == 0))
            {
                Counters.DemandFaults++;
                return Translation.Fault(g, table, index, level);
            }
            if (X86Pte.IsLeaf(g, level))
            {
                // Xen's guest walk sets the accessed (and on a write the dirty) bit in the guest's entry.
                ulong updated = g | X86Pte.Accessed | (write ? X86Pte.Dirty : 0);
                if (updated != g) Memory.WriteWord(new Gfn(table), index, updated);
                ulong gfn = X86Pte.Frame(updated) + (level == 2 ? vpn & 511 : 0);
                int l1 = parent;
                if (level == 2)
                {
                    l1 = Ensure(Fl1Key | X86Pte.Frame(updated), 1);
                    Link(parent, index, l1);
                    Set(l1, (int)(vpn & 511), Leaf(gfn, updated));
                }
                else
                {
                    Set(l1, index, Leaf(gfn, updated));
                }
                Counters.PulledThrough++;
                ulong s = _pool[l1]!.Entries[vpn & 511];
                bool writable = (s & X86Pte.Writable) != 0;
                Tlb.Fill(Asid, vpn, gfn, writable, dirty: writable);
                return Translation.Ok(gfn, writable, updated, table, index, level);
            }
            int child = Ensure(X86Pte.Frame(g), level - 1);
            Link(parent, index, child);
            parent = child;
            table = X86Pte.Frame(g);
        }
        throw new InvalidOperationException("A four-level walk ends at level 1.");
    }

    // ---- guest writes to its tables ----

    public override bool WriteEntry(ulong table, int index, ulong value)
    {
        if (!_byKey.TryGetValue(table, out int si) || _pool[si]!.OutOfSync)
            return Memory.WriteWord(new Gfn(table), index, value); // not write-protected
        var s = _pool[si]!;
        if (Oos && s.Level == 1)
        {
            // Shadow-3: the first write faults, the page is unsynced and made writable, and the write re-executes.
            Exit(ExitReason.PageTableWrite, Costs.ShadowFaultNs);
            Unsync(si);
            return Memory.WriteWord(new Gfn(table), index, value);
        }
        Exit(ExitReason.PageTableWrite, Costs.ShadowEmulateNs);
        Counters.EmulatedWrites++;
        bool ok = Memory.WriteWord(new Gfn(table), index, value);
        Propagate(si, index, value);
        return ok;
    }

    public override bool SwitchAddressSpace(ulong root, int asid)
    {
        // A MOV to CR3 exits under shadow paging; Shadow-3 resyncs every out-of-sync page here.
        Exit(ExitReason.Cr3Write, 0);
        ResyncAll();
        Pin(root);
        Root = root;
        Asid = asid;
        // The guest's address spaces share the vCPU's one tag under shadow paging: a CR3 load flushes the TLB.
        Tlb.Reload(asid);
        return true;
    }

    // A top-level shadow stays while its address space lives, so that switching back to it finds it made.
    private void Pin(ulong root)
    {
        int s = Ensure(root, X86Pte.Levels);
        if (!_pool[s]!.Pinned)
        {
            _pool[s]!.Pinned = true;
            _pool[s]!.Refs++;
        }
        _root = s;
    }

    public override void ReleaseAddressSpace(ulong root)
    {
        if (!_byKey.TryGetValue(root, out int s) || !_pool[s]!.Pinned) return;
        _pool[s]!.Pinned = false;
        if (s == _root) _root = -1;
        Unref(s);
    }

    public override void Invlpg(ulong vpn)
    {
        Exit(ExitReason.Invlpg, 0);
        if (Oos && _outOfSync.Count > 0 && L1Of(vpn) is ulong l1 && _byKey.TryGetValue(l1, out int s) && _pool[s]!.OutOfSync)
            Resync(s);
        // An address in a guest 2 MiB page is shadowed by an fl1 of 4 KiB entries, which the one address does not name:
        // the whole TLB goes (Xen's sh_invlpg, arch/x86/mm/shadow/multi.c, flushes it for an fl1 shadow).
        if (InGuestSuperpage(vpn)) Tlb.FlushAll();
        else base.Invlpg(vpn);
    }

    private bool InGuestSuperpage(ulong vpn)
    {
        ulong table = Root;
        for (int level = X86Pte.Levels; level > 1; level--)
        {
            ulong g = ReadEntry(table, X86Pte.IndexAt(vpn, level));
            if (!X86Pte.IsPresent(g)) return false;
            if (X86Pte.IsLeaf(g, level)) return level == 2;
            table = X86Pte.Frame(g);
        }
        return false;
    }

    // A guest flush is a MOV to CR3 of the same table.
    public override void FlushTlb()
    {
        Exit(ExitReason.Cr3Write, 0);
        ResyncAll();
        base.FlushTlb();
    }

    // ---- shadow upkeep ----

    // The L1 table (gfn) the guest's tables use for vpn, or null if the walk stops above it or at a 2 MiB page.
    private ulong? L1Of(ulong vpn)
    {
        ulong table = Root;
        for (int level = X86Pte.Levels; level > 1; level--)
        {
            ulong g = ReadEntry(table, X86Pte.IndexAt(vpn, level));
            if (!X86Pte.IsPresent(g) || X86Pte.IsLeaf(g, level)) return null;
            table = X86Pte.Frame(g);
        }
        return table;
    }

    // The shadow of a guest entry, as Xen propagates it: a leaf is present once accessed and writable once dirty
    // (and never if the page it maps is itself a write-protected table); an upper entry links the child's shadow if
    // it has one, else is left not present to be pulled through.
    private ulong Shadowed(int level, ulong g)
    {
        if (!X86Pte.IsPresent(g)) return 0;
        if (level == 1) return Leaf(X86Pte.Frame(g), g);
        ulong key = level == 2 && (g & X86Pte.Huge) != 0 ? Fl1Key | X86Pte.Frame(g) : X86Pte.Frame(g);
        return _byKey.TryGetValue(key, out int child) ? X86Pte.Make((ulong)child, X86Pte.Present | X86Pte.Writable | X86Pte.User) : 0;
    }

    private ulong Leaf(ulong gfn, ulong g)
    {
        if ((g & X86Pte.Accessed) == 0) return 0;
        bool writable = (g & (X86Pte.Writable | X86Pte.Dirty)) == (X86Pte.Writable | X86Pte.Dirty) && !IsProtected(gfn);
        return X86Pte.Make(gfn, X86Pte.Present | (g & X86Pte.User) | (writable ? X86Pte.Writable : 0));
    }

    private bool IsProtected(ulong gfn) => _byKey.TryGetValue(gfn, out int s) && !_pool[s]!.OutOfSync;

    private void Propagate(int si, int index, ulong g)
    {
        var s = _pool[si]!;
        if (s.IsFl1) return;
        ulong value = Shadowed(s.Level, g);
        // A rewritten 2 MiB entry keeps its fl1 shadow linked; its split entries are pulled through again.
        if (value == s.Entries[index] && s.Level == 2 && X86Pte.IsPresent(value) && _pool[(int)X86Pte.Frame(value)]!.IsFl1)
            Array.Clear(_pool[(int)X86Pte.Frame(value)]!.Entries);
        Set(si, index, value);
    }

    private void Link(int parent, int index, int child) =>
        Set(parent, index, X86Pte.Make((ulong)child, X86Pte.Present | X86Pte.Writable | X86Pte.User));

    // Sets a shadow entry, keeping the children's link counts.
    private void Set(int si, int index, ulong value)
    {
        var s = _pool[si]!;
        ulong old = s.Entries[index];
        if (old == value) return;
        s.Entries[index] = value;
        if (s.Level == 1) return;
        if (X86Pte.IsPresent(value)) _pool[(int)X86Pte.Frame(value)]!.Refs++;
        if (X86Pte.IsPresent(old)) Unref((int)X86Pte.Frame(old));
    }

    private int Ensure(ulong key, int level)
    {
        if (_byKey.TryGetValue(key, out int si)) return si;
        var s = new ShadowTable(key, level);
        if (_free.TryPop(out si)) _pool[si] = s;
        else
        {
            si = _pool.Count;
            _pool.Add(s);
        }
        _byKey[key] = si;
        Counters.ShadowsMade++;
        return si;
    }

    private void Unref(int si) => Unref(si, top: true);

    private void Unref(int si, bool top)
    {
        var s = _pool[si]!;
        if (--s.Refs > 0 || s.Pinned) return;
        if (s.Level > 1)
            for (int i = 0; i < 512; i++)
                if (X86Pte.IsPresent(s.Entries[i])) Unref((int)X86Pte.Frame(s.Entries[i]), top: false);
        if (s.OutOfSync) _outOfSync.Remove(si);
        _byKey.Remove(s.Key);
        _pool[si] = null;
        _free.Push(si);
        Counters.ShadowsRemoved++;
        // Cached walks may name this shadow; Xen flushes TLBs when it tears shadows down (once for a whole subtree).
        if (top) Tlb.FlushAll();
    }

    private void Unsync(int si)
    {
        _pool[si]!.OutOfSync = true;
        _outOfSync.Add(si);
        Counters.Unsynced++;
        if (_outOfSync.Count > Options.OosLimit) Resync(_outOfSync[0]);
    }

    private void Resync(int si)
    {
        var s = _pool[si]!;
        s.OutOfSync = false;
        _outOfSync.Remove(si);
        for (int i = 0; i < 512; i++) Propagate(si, i, ReadEntry(s.Key, i));
        Counters.Resyncs++;
        Charge(Costs.ShadowResyncNs);
    }

    private void ResyncAll()
    {
        while (_outOfSync.Count > 0) Resync(_outOfSync[^1]);
    }

    /// <summary>
    /// What the hardware would find for <paramref name="vpn"/> in the current shadow without faulting: the gfn and
    /// whether it is writable, or null if the shadow has no present entry there. For tests and the report.
    /// </summary>
    public (ulong Gfn, bool Writable)? Probe(ulong vpn)
    {
        if (_root < 0) return null;
        int si = _root;
        for (int level = X86Pte.Levels; ; level--)
        {
            ulong e = _pool[si]!.Entries[X86Pte.IndexAt(vpn, level)];
            if (!X86Pte.IsPresent(e)) return null;
            if (level == 1) return (X86Pte.Frame(e), (e & X86Pte.Writable) != 0);
            si = (int)X86Pte.Frame(e);
        }
    }
}
