using FsCheck;
using FsCheck.Fluent;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Hypervisor.Mmu.Pv;
using Memvisor.Machine.Frames;
using Memvisor.Tests.Support;
using Memvisor.Seam;

namespace Memvisor.Tests.Hypervisor.Mmu;

/// <summary>
/// PV type and reference counts under random mmu_update and mmuext_op requests, good and bad alike: after every
/// request, no validated table maps a page-table frame writable, and every frame's type count is exactly what the
/// validated tables, the pins and the current base hold on it. Grant mappings into the tables (GNTMAP_contains_pte)
/// come and go among them: an entry naming another domain's frame is always one a live mapping wrote (invariant 2),
/// a live mapping's entry is in a validated table or detached from one that lost its type, and the granter (PV too,
/// pinning and unpinning the granted page as a table) sees its page's type count hold the writable mappings of it,
/// never a table mapped writable by the grantee.
/// </summary>
public class PvProperties
{
    private enum OpKind { Update, Pin, Unpin, NewBase, MapGrant, UnmapGrant, GranterPin, UnpinGrantTable }

    private sealed record Op(OpKind Kind, int Table, int Index, int Target, int Flags, int Level)
    {
        public override string ToString() => $"{Kind}(table {Table}, index {Index}, target {Target}, flags {Flags}, level {Level})";
    }

    private const int Frames = 24; // gfns 0..23: any of them may become a table or be mapped

    private static readonly Gen<Op> OpGen =
        from kind in Gen.Frequency((10, Gen.Constant(OpKind.Update)), (3, Gen.Constant(OpKind.Pin)), (2, Gen.Constant(OpKind.Unpin)), (2, Gen.Constant(OpKind.NewBase)),
            (3, Gen.Constant(OpKind.MapGrant)), (2, Gen.Constant(OpKind.UnmapGrant)), (1, Gen.Constant(OpKind.GranterPin)), (2, Gen.Constant(OpKind.UnpinGrantTable)))
        from table in Gen.Choose(0, Frames - 1)
        from index in Gen.Elements(0, 1, 2, 260, 511)
        from target in Gen.Choose(0, Frames) // Frames: a frame of another domain
        from flags in Gen.Choose(0, 7)
        from level in Gen.Choose(1, 4)
        select new Op(kind, table, index, target, flags, level);

    [Fact]
    public void Type_counts_match_the_validated_tables_and_no_table_is_writable_mapped()
    {
        var gen = from n in Gen.Choose(10, 120) from ops in Gen.ArrayOf(OpGen, n) select ops;
        int mapped = 0, detached = 0, refusedWritable = 0;
        Properties.Check(gen, ops =>
        {
            var (m, d, r) = Run(ops);
            (mapped, detached, refusedWritable) = (mapped + m, detached + d, refusedWritable + r);
        }, maxTest: 400);
        Assert.True(mapped > 40 && detached > 3 && refusedWritable > 50,
            $"only {mapped} grant entries were written into the tables, {detached} detached by a table losing its type, {refusedWritable} writable maps of the granter's table refused");
    }

    // Returns how many grant entries it wrote into the tables, how many a table losing its type detached, and how many
    // writable maps of the granter's pinned table were refused.
    private static (int Mapped, int Detached, int RefusedWritable) Run(Op[] ops)
    {
        var g = new MmuTestGuest(MmuMode.Pv, pages: 256);
        var pv = (PvMmu)g.Mmu;
        var other = TestHost.Domain(g.Hv, "other", 16, 16);
        var otherMmu = (PvMmu)g.Hv.AttachMmu(other, new MmuOptions { Mode = MmuMode.Pv });
        bool otherPinned = false;
        var m = g.Hv.Machine;
        uint Mfn(int i) => i == Frames ? other.P2m.Get(0).Mfn : g.Domain.P2m.Get((ulong)i).Mfn;
        var pins = new Dictionary<uint, int>();
        uint? baseMfn = null;
        var results = new XenErrno[1];
        // The other domain grants its page 0 to this one, which maps it into gfns its balloon gave back.
        Assert.Equal(XenErrno.Ok, g.Hv.Grants.SetupTable(other.DomId, 1));
        Assert.Equal(XenErrno.Ok, g.Hv.Grants.GrantAccess(other.DomId, 1, g.Domain.DomId, 0, readOnly: false));
        for (ulong at = 200; at < 209; at++) Assert.Equal(XenErrno.Ok, g.Hv.PortFor(g.Domain).DecreaseReservation([at], 0));
        var handles = new List<uint>();
        int step = 0, mapped = 0, refusedWritable = 0;
        foreach (var op in ops)
        {
            step++;
            uint table = Mfn(op.Table);
            switch (op.Kind)
            {
                case OpKind.Update:
                {
                    ulong flags = X86Pte.Present | X86Pte.User | ((op.Flags & 1) != 0 ? X86Pte.Writable : 0) | ((op.Flags & 4) != 0 ? X86Pte.GrantMapped : 0);
                    ulong value = (op.Flags & 2) != 0 ? 0 : X86Pte.Make(Mfn(op.Target), flags);
                    pv.MmuUpdateOp([new MmuUpdate(table, op.Index, value)], results);
                    break;
                }
                case OpKind.Pin:
                    if (pv.MmuextOp((MmuextCmd)(op.Level - 1), table) == XenErrno.Ok) pins[table] = op.Level;
                    break;
                case OpKind.Unpin:
                    if (pv.MmuextOp(MmuextCmd.UnpinTable, table) == XenErrno.Ok) pins.Remove(table);
                    break;
                case OpKind.NewBase:
                    if (pv.MmuextOp(MmuextCmd.NewBaseptr, table) == XenErrno.Ok) baseMfn = table;
                    break;
                case OpKind.MapGrant:
                    if (g.Hv.Grants.MapPte(g.Domain.DomId, other.DomId, 1, 200 + (ulong)(op.Target % 8), table, op.Index, (op.Flags & 1) == 0, out uint h) == XenErrno.Ok)
                    {
                        handles.Add(h);
                        mapped++;
                    }
                    break;
                case OpKind.GranterPin:
                    if (otherPinned) Assert.Equal(XenErrno.Ok, otherMmu.MmuextOp(MmuextCmd.UnpinTable, Mfn(Frames)));
                    else if (otherMmu.Pin(0, 1) != XenErrno.Ok)
                    {
                        Assert.Contains(g.Hv.Grants.MappingsHeldBy(g.Domain.DomId), x => !x.ReadOnly);
                        break;
                    }
                    otherPinned = !otherPinned;
                    // While the granter's page is its pinned table, a writable mapping of it is refused, a read-only one is not.
                    if (otherPinned)
                    {
                        Assert.Equal(XenErrno.EBUSY, g.Hv.Grants.Map(g.Domain.DomId, other.DomId, 1, 208, readOnly: false, out _));
                        refusedWritable++;
                    }
                    break;
                // A table holding a grant entry is unpinned: unless something else holds its type, it loses it.
                case OpKind.UnpinGrantTable when g.Hv.Grants.MappingsHeldBy(g.Domain.DomId).Where(x => x.HasPte).ToList() is { Count: > 0 } live:
                {
                    uint t = live[op.Target % live.Count].PteTable;
                    if (pins.Remove(t)) Assert.Equal(XenErrno.Ok, pv.MmuextOp(MmuextCmd.UnpinTable, t));
                    break;
                }
                case OpKind.UnmapGrant when handles.Count > 0:
                    Assert.Equal(XenErrno.Ok, g.Hv.Grants.Unmap(g.Domain.DomId, handles[op.Target % handles.Count]));
                    handles.RemoveAt(op.Target % handles.Count);
                    break;
            }
            var granted = g.Hv.Grants.MappingsHeldBy(g.Domain.DomId).Where(x => x.HasPte).ToList();
            foreach (var x in granted)
                Assert.True(m.Frames[x.PteTable].Type == PageType.L1 && m.Frames[x.PteTable].TypeCount > 0
                    && m.ReadWord(x.PteTable, x.PteIndex) is var pte && (pte & X86Pte.GrantMapped) != 0 && X86Pte.Frame(pte) == x.Mfn,
                    $"step {step} {op}: a live mapping's entry is not in a validated table.");
            int writable = g.Hv.Grants.MappingsHeldBy(g.Domain.DomId).Count(x => !x.ReadOnly);
            Assert.False(otherPinned && writable > 0, $"step {step} {op}: the granter's page table is mapped writable.");

            // Recount every type reference from the validated tables, the pins and the base.
            var expected = new Dictionary<uint, int>();
            for (int i = 0; i < Frames; i++)
            {
                uint mfn = Mfn(i);
                ref var f = ref m.Frames[mfn];
                if (f.TypeCount == 0 || !PageTypes.IsTable(f.Type)) continue;
                int level = PageTypes.LevelOf(f.Type);
                for (int e = 0; e < 512; e++)
                {
                    if (level == 4 && e >= PageTypes.HypervisorFirstSlot && e <= PageTypes.HypervisorLastSlot) continue;
                    ulong entry = m.ReadWord(mfn, e);
                    if (!X86Pte.IsPresent(entry)) continue;
                    uint target = (uint)X86Pte.Frame(entry);
                    ref var t = ref m.Frames[target];
                    if (level == 1 && (entry & X86Pte.GrantMapped) != 0)
                    {
                        Assert.True(granted.Exists(x => x.PteTable == mfn && x.PteIndex == e && x.Mfn == target), $"step {step} {op}: a grant entry no live mapping wrote.");
                        continue;
                    }
                    Assert.True(t.Owner == g.Domain.DomId, $"step {step} {op}: a validated table of level {level} maps a frame the domain does not own.");
                    if (level == 1 && (entry & X86Pte.Writable) == 0) continue;
                    Assert.False(level == 1 && PageTypes.IsTable(t.Type) && t.TypeCount > 0, $"step {step} {op}: a page-table frame is mapped writable.");
                    expected[target] = expected.GetValueOrDefault(target) + 1;
                }
            }
            foreach (var pin in pins.Keys) expected[pin] = expected.GetValueOrDefault(pin) + 1;
            if (baseMfn is uint b) expected[b] = expected.GetValueOrDefault(b) + 1;
            expected[Mfn(Frames)] = writable + (otherPinned ? 1 : 0);
            for (int i = 0; i <= Frames; i++)
            {
                uint mfn = Mfn(i);
                Assert.True(m.Frames[mfn].TypeCount == expected.GetValueOrDefault(mfn),
                    $"step {step} {op}: frame {i} has type {m.Frames[mfn].Type} count {m.Frames[mfn].TypeCount}, the tables hold {expected.GetValueOrDefault(mfn)}.");
            }
        }
        // The auditor recomputes reference and type counts from the tables, pins and base the same way.
        Assert.Empty(global::Memvisor.Hypervisor.Accounting.Auditor.Check(g.Hv));
        return (mapped, (int)g.Hv.Grants.Stats.ImplicitUnmaps, refusedWritable);
    }
}
