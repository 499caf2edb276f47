using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Machine.Frames;
using Memvisor.Seam;

namespace Memvisor.Hypervisor.Grants;

// A PV grantee's grant mappings in its own page tables (xen/arch/x86/pv/grant_table.c, create_grant_pv_mapping and
// replace_grant_pv_mapping): GNTMAP_host_map with GNTMAP_contains_pte names the L1 entry to write.
public sealed partial class GrantOps
{
    // PV grantees' grant entries by (grantee, L1 table mfn, slot): what the PV walk, the guest's reads and the auditor look up.
    private readonly Dictionary<ulong, GrantMapping> _ptes = [];

    private static ulong PteKey(ushort grantee, uint table, int index) => ((ulong)grantee << 41) | ((ulong)table << 9) | (uint)index;

    /// <summary>
    /// GNTTABOP_map_grant_ref with GNTMAP_host_map | GNTMAP_contains_pte, for a PV grantee: as <see cref="Map"/>
    /// (the grantee's gfn <paramref name="at"/> names the granted frame, as a PV Linux's own p2m does with
    /// set_foreign_p2m_mapping on a ballooned page), and entry <paramref name="index"/> of the grantee's validated L1
    /// table <paramref name="l1Mfn"/> is written to map the frame: present, accessed, dirty, no-execute, user (as
    /// GNTMAP_application_map), writable unless read-only, and <see cref="X86Pte.GrantMapped"/>. The entry is not
    /// validated as an mmu_update's is: the mapping holds the frame's reference. Refused for a grantee that is not PV,
    /// an L1 that is not the grantee's validated table, or an entry in use (Xen would replace it; here it must be empty).
    /// </summary>
    public XenErrno MapPte(ushort grantee, ushort granter, uint gref, ulong at, uint l1Mfn, int index, bool readOnly, out uint handle)
    {
        const string call = "grant_table_op map_grant_ref";
        handle = uint.MaxValue;
        if (!_hv.TryGetDomain(grantee, call, 0, out var g, out var missing)) return missing;
        // An HVM or PVH grantee names a guest-physical address (Map); only a PV one has tables of machine frames.
        if (!g.IsPv || (uint)index >= 512 || l1Mfn >= _hv.Machine.TotalFrames) return Refuse(g, call, XenErrno.EINVAL, RefusalCause.BadConfiguration, index);
        // A domain being migrated takes no grant entry into its tables: they could not cross (Xen's normalise_pagetable
        // would fail the migration at the table; here the map is refused and the migration goes on).
        if (g.MigratingOut) return Refuse(g, call, XenErrno.EBUSY, RefusalCause.NotPermitted, index);
        ref var table = ref _hv.Machine.Frames[l1Mfn];
        if (table.IsFree || table.Owner != grantee || table.Type != PageType.L1 || table.TypeCount == 0)
            return Refuse(g, call, XenErrno.EINVAL, RefusalCause.NotPermitted, l1Mfn);
        if (X86Pte.IsPresent(_hv.Machine.ReadWord(l1Mfn, index))) return Refuse(g, call, XenErrno.EBUSY, RefusalCause.GfnAlreadyPopulated, index);
        var mapped = Map(grantee, granter, gref, at, readOnly, out handle);
        if (mapped != XenErrno.Ok) return mapped;
        var list = _maptrack[grantee];
        var m = list[(int)handle]! with { PteTable = l1Mfn, PteIndex = index };
        list[(int)handle] = m;
        _ptes[PteKey(grantee, l1Mfn, index)] = m;
        ulong flags = X86Pte.Present | X86Pte.Accessed | X86Pte.Dirty | X86Pte.User | X86Pte.NoExecute | X86Pte.GrantMapped | (readOnly ? 0 : X86Pte.Writable);
        _hv.Machine.WriteWord(l1Mfn, index, X86Pte.Make(m.Mfn, flags));
        Host.MarkDirty(g, _hv.M2p[l1Mfn]);
        return XenErrno.Ok;
    }

    /// <summary>The live grant mapping that wrote entry <paramref name="index"/> of a PV grantee's L1 table <paramref name="table"/>; null if none did.</summary>
    public GrantMapping? PteMappingAt(ushort grantee, uint table, int index) =>
        _ptes.Count != 0 && _ptes.TryGetValue(PteKey(grantee, table, index), out var m) ? m : null;

    /// <summary>The gfn by which a PV grantee's own p2m names the frame its grant entry at (<paramref name="table"/>, <paramref name="index"/>) maps; null if no mapping wrote that entry.</summary>
    internal ulong? LocalGfnOf(ushort grantee, uint table, int index) => PteMappingAt(grantee, table, index)?.At;

    /// <summary>The gfn where a grantee holds a mapping of frame <paramref name="mfn"/> (one detached from its table too); null if it holds none.</summary>
    internal ulong? HeldGfnOf(ushort grantee, uint mfn) =>
        _maptrack.TryGetValue(grantee, out var list) ? list.FirstOrDefault(m => m is { } x && x.Mfn == mfn)?.At : null;

    /// <summary>
    /// A PV grantee's L1 table <paramref name="table"/> lost its type with grant entries in it: Xen's free_l1_table
    /// meets them in put_page_from_l1e ("Attempt to implicitly unmap a grant PTE", a #GP for the guest in a debug
    /// build) and the mapping is left without an entry, unmappable by the guest until it dies. Here the mappings are
    /// detached from the table (their entries stay in its bytes, which no validation accepts again until the guest
    /// clears them) and keep their frame's reference until unmapped by handle or the grantee's end (Xen drops it
    /// with the entry). Counted as implicit unmaps.
    /// </summary>
    internal void TableDevalidated(Domain g, uint table)
    {
        if (_ptes.Count == 0 || !_maptrack.TryGetValue(g.DomId, out var list)) return;
        for (int i = 0; i < 512; i++)
        {
            if (!_ptes.Remove(PteKey(g.DomId, table, i), out var m)) continue;
            int handle = list.IndexOf(m);
            if (handle >= 0) list[handle] = m with { PteTable = uint.MaxValue, PteIndex = 0 };
            Counters.ImplicitUnmaps++;
        }
    }

    // replace_grant_pv_mapping: the entry the mapping wrote is cleared if it still maps the frame (an entry the table's
    // devalidation dropped is gone already), and the grantee's TLB is flushed (gnttab_flush_tlb).
    private void ClearPte(Domain g, GrantMapping m)
    {
        _ptes.Remove(PteKey(g.DomId, m.PteTable, m.PteIndex));
        ref var table = ref _hv.Machine.Frames[m.PteTable];
        ulong e = _hv.Machine.ReadWord(m.PteTable, m.PteIndex);
        if (table.Owner == g.DomId && table.Type == PageType.L1 && table.TypeCount > 0 && X86Pte.IsPresent(e)
            && (e & X86Pte.GrantMapped) != 0 && X86Pte.Frame(e) == m.Mfn)
        {
            _hv.Machine.WriteWord(m.PteTable, m.PteIndex, 0);
            Host.MarkDirty(g, _hv.M2p[m.PteTable]);
        }
        g.Mmu?.Tlb.FlushAll();
    }
}
