namespace Memvisor.Hypervisor.Mmu.Hap;

using Memvisor.Hypervisor.Domains;
using Memvisor.Seam;

/// <summary>
/// Hardware-assisted paging (Intel EPT, AMD NPT; Xen's HAP): the guest writes its own tables and takes its own page
/// faults without the hypervisor; a TLB miss walks the guest's tables, and every guest-physical address on the way
/// (each table and the final page) is itself translated through the p2m as a 4-level nested table. With no caches a
/// 4-level by 4-level walk reads 24 entries; 2 MiB pages in either dimension take a level off, and the walk caches
/// (the guest PDE cache and a nested TLB of guest-physical translations) skip most of the rest.
/// </summary>
public sealed class HapMmu : GuestMmu
{
    private const int NestedEntries = 64;
    private readonly ulong[] _nestedTags = new ulong[NestedEntries];
    // The simulator's own note of the last-level table behind each recent 2 MiB of virtual addresses, for prefetch
    // hints only: it is not the modeled PDE cache, and a stale note costs a wasted prefetch, never a wrong answer.
    private const int HintSlots = 1024;
    private readonly ulong[] _hintTags = new ulong[HintSlots];
    private readonly ulong[] _hintTables = new ulong[HintSlots];
    private readonly uint[] _hintFrames = new uint[HintSlots];

    internal HapMmu(Host hv, Domain domain, IGuestMemory memory, MmuOptions options) : base(hv, domain, memory, options) { }

    public override Translation Translate(Vpn page, bool write)
    {
        ulong vpn = page.Value;
        if (Tlb.TryTranslate(Asid, vpn, write, out ulong hit, out bool w)) return Translation.Ok(hit, w, 0, 0, 0, 1);
        int refs = 0;
        ulong table, e = 0;
        int index = 0, level;
        if (Tlb.TryGetPageTable(Asid, vpn, out table))
        {
            level = 1;
            index = (int)(vpn & 511);
            NoteTable(vpn, table);
            refs += Nested(table) + 1;
            e = ReadEntry(table, index);
        }
        else
        {
            table = Root;
            for (level = X86Pte.Levels; ; level--)
            {
                index = X86Pte.IndexAt(vpn, level);
                refs += Nested(table) + 1;
                e = ReadEntry(table, index);
                if (!X86Pte.IsPresent(e) || X86Pte.IsLeaf(e, level)) break;
                if (level == 2)
                {
                    Tlb.FillPageTable(Asid, vpn, X86Pte.Frame(e));
                    NoteTable(vpn, X86Pte.Frame(e));
                }
                table = X86Pte.Frame(e);
            }
        }
        if (!X86Pte.IsPresent(e) || (write && (e & X86Pte.Writable) == 0))
        {
            ChargeWalk(refs);
            Counters.DemandFaults++;
            return Translation.Fault(e, table, index, level);
        }
        ulong gfn = X86Pte.Frame(e) + (level == 2 ? vpn & 511 : 0);
        refs += Nested(gfn);
        ChargeWalk(refs);
        // The hardware sets the accessed and dirty bits itself: a plain write to the guest's table.
        ulong updated = e | X86Pte.Accessed | (write ? X86Pte.Dirty : 0);
        if (updated != e) Memory.WriteWord(new Gfn(table), index, updated);
        bool writable = (e & X86Pte.Writable) != 0;
        // A 2 MiB page takes one TLB entry for its 512 pages.
        if (level == 2) Tlb.FillHuge(Asid, vpn, X86Pte.Frame(e), writable, (updated & X86Pte.Dirty) != 0);
        else Tlb.Fill(Asid, vpn, gfn, writable, (updated & X86Pte.Dirty) != 0);
        return Translation.Ok(gfn, writable, updated, table, index, level);
    }

    private ulong HintTag(ulong vpn) => ((vpn >> 9) ^ ((ulong)(uint)Asid << 40)) + 1;

    private void NoteTable(ulong vpn, ulong table)
    {
        int slot = (int)((vpn >> 9) & (HintSlots - 1));
        ulong tag = HintTag(vpn);
        if (_hintTags[slot] == tag && _hintTables[slot] == table) return;
        var e = Domain.P2m.Get(table);
        _hintTags[slot] = e.IsMapped ? tag : 0;
        _hintTables[slot] = table;
        _hintFrames[slot] = e.Mfn;
    }

    // Each stage only reads lines an earlier stage started loading, so none waits for memory: stage 0 starts on the
    // table's frame-table entry and its p2m entry (which the walk's read of the table needs), stage 1 reads the
    // frame-table entry and starts on the page-table entry, stage 2 reads that and starts on the page's p2m entry,
    // stage 3 reads it and, for a write, starts on the page's frame-table entry.
    public override void Prefetch(Vpn page, int stage, bool write)
    {
        ulong vpn = page.Value;
        int slot = (int)((vpn >> 9) & (HintSlots - 1));
        if (_hintTags[slot] != HintTag(vpn)) return;
        // The table's frame as of the last walk through it: if the p2m has moved it since, the hint is only wasted.
        uint tableMfn = _hintFrames[slot];
        var machine = Hv.Machine;
        int index = (int)(vpn & 511);
        switch (stage)
        {
            case 0:
                machine.PrefetchFrame(tableMfn);
                Domain.P2m.Prefetch(_hintTables[slot]);
                return;
            case 1:
                machine.PrefetchWord(tableMfn, index);
                return;
        }
        if (!machine.TryPeekWord(tableMfn, index, out ulong e) || !X86Pte.IsPresent(e)) return;
        ulong gfn = X86Pte.Frame(e);
        if (stage == 2) Domain.P2m.Prefetch(gfn);
        else if (write && Domain.P2m.Get(gfn) is { IsMapped: true } data) machine.PrefetchFrame(data.Mfn);
    }

    // References to translate one guest-physical page through the p2m: none on a nested-TLB hit, else one per nested
    // level. A guest TLB flush keeps these (guest-physical translations go only with an INVEPT).
    private int Nested(ulong gfn)
    {
        int slot = (int)(gfn & (NestedEntries - 1));
        if (Options.WalkCaches && _nestedTags[slot] == gfn + 1) return 0;
        if (Options.WalkCaches) _nestedTags[slot] = gfn + 1;
        return Options.NestedSuperpages && Domain.P2m.IsSuperpage(gfn) ? 3 : 4;
    }

    // The hints name the old domain's frames.
    internal override void MoveTo(Host hv, Domain domain)
    {
        base.MoveTo(hv, domain);
        Array.Clear(_nestedTags);
        Array.Clear(_hintTags);
    }

    public override bool WriteEntry(ulong table, int index, ulong value) => Memory.WriteWord(new Gfn(table), index, value);

    // With EPT a MOV to CR3 does not exit; the TLB keeps other address spaces' entries if tagged.
    public override bool SwitchAddressSpace(ulong root, int asid)
    {
        Root = root;
        Asid = asid;
        Tlb.SwitchTo(asid);
        return true;
    }
}
