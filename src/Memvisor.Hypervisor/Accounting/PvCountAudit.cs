using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Mmu.Pv;
using Memvisor.Hypervisor.P2m;
using Memvisor.Machine.Frames;
using Memvisor.Seam;

namespace Memvisor.Hypervisor.Accounting;

/// <summary>
/// A PV domain's frame counts recomputed from its tables, as xen/arch/x86/mm.c keeps them: each frame's reference
/// count is the present entries of validated tables that name it (and the grant mappings of it); its type count is
/// the entries that take its type (every entry of an L2..L4, a writable entry of an L1), the pins of it and its being
/// the base table, and the writable grant mappings of it by other domains. An entry naming another domain's frame
/// is a grant mapping's entry, which a live mapping wrote (DESIGN.md invariant 2).
/// </summary>
internal static class PvCountAudit
{
    public static void Check(Host hv, Domain d, PvMmu mmu, List<string> problems)
    {
        var frames = hv.Machine.Frames;
        var refs = new Dictionary<uint, long>();
        var types = new Dictionary<uint, long>();
        var owned = new List<uint>();
        d.P2m.ForEachPresent((_, e) =>
        {
            if (e.Type != P2mType.Ram) return;
            owned.Add(e.Mfn);
            ref var f = ref frames[e.Mfn];
            if (f.TypeCount == 0 || !PageTypes.IsTable(f.Type)) return;
            int level = PageTypes.LevelOf(f.Type);
            for (int i = 0; i < 512; i++)
            {
                if (level == 4 && i >= PageTypes.HypervisorFirstSlot && i <= PageTypes.HypervisorLastSlot) continue;
                ulong entry = hv.Machine.ReadWord(e.Mfn, i);
                if (!X86Pte.IsPresent(entry) || X86Pte.Frame(entry) >= (ulong)hv.Machine.TotalFrames) continue;
                uint target = (uint)X86Pte.Frame(entry);
                // A grant entry is the mapping's, which holds the frame (counted with the granter's frames); it must be one.
                if (level == 1 && (entry & X86Pte.GrantMapped) != 0)
                {
                    if (hv.Grants.PteMappingAt(d.DomId, e.Mfn, i) is not { } m || m.Mfn != target)
                        problems.Add($"{d}'s L1 mfn {e.Mfn} slot {i} maps mfn {target} as a grant, but no grant mapping of it wrote that entry.");
                    continue;
                }
                if (frames[target].Owner != d.DomId)
                    problems.Add($"{d}'s table mfn {e.Mfn} slot {i} maps mfn {target}, owned by {frames[target].Owner}, without a grant.");
                refs[target] = refs.GetValueOrDefault(target) + 1;
                if (level > 1 || (entry & X86Pte.Writable) != 0) types[target] = types.GetValueOrDefault(target) + 1;
            }
        });
        // And every mapping that wrote an entry finds it there, in a validated L1 of the domain's.
        foreach (var m in hv.Grants.MappingsHeldBy(d.DomId))
            if (m.HasPte && !(frames[m.PteTable] is { Type: PageType.L1, TypeCount: > 0 } t && t.Owner == d.DomId
                && hv.Machine.ReadWord(m.PteTable, m.PteIndex) is var pte && (pte & X86Pte.GrantMapped) != 0 && X86Pte.Frame(pte) == m.Mfn))
                problems.Add($"{d}'s grant mapping of mfn {m.Mfn} names L1 mfn {m.PteTable} slot {m.PteIndex}, which does not hold its entry.");
        foreach (uint mfn in mmu.PinnedMfns) types[mfn] = types.GetValueOrDefault(mfn) + 1;
        if (mmu.BaseMfn != uint.MaxValue) types[mmu.BaseMfn] = types.GetValueOrDefault(mmu.BaseMfn) + 1;
        foreach (uint mfn in owned)
        {
            long expectRefs = refs.GetValueOrDefault(mfn) + hv.Grants.MappingsOf(mfn);
            long expectType = types.GetValueOrDefault(mfn) + hv.Grants.WritableTypeRefsOf(mfn);
            if (frames[mfn].RefCount != expectRefs)
                problems.Add($"{d}'s mfn {mfn} has a reference count of {frames[mfn].RefCount}, but {expectRefs} entries and mappings name it.");
            if (frames[mfn].TypeCount != expectType)
                problems.Add($"{d}'s mfn {mfn} has a type count of {frames[mfn].TypeCount} ({frames[mfn].Type}), but {expectType} entries, pins and bases take its type.");
        }
    }
}
