using FsCheck;
using FsCheck.Fluent;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor.Mmu;

/// <summary>
/// Prefetch hints change nothing: two identical nested-paging guests run the same random sequence of page-table edits,
/// accesses, address-space switches and p2m re-backings of table and data pages, and one of them also receives
/// prefetch hints of every stage for right, stale and wrong pages. Every translation, the MMU's counters and every
/// page-table entry stay equal between the two.
/// </summary>
public class HapPrefetchProperties
{
    private enum OpKind { Map, Unmap, Read, Write, Switch, Reback, Hint }

    private sealed record Op(OpKind Kind, int Page, int Data, int Stage, bool Write, ulong Wild)
    {
        public override string ToString() => $"{Kind}(page {Page}, data {Data}, stage {Stage}, write {Write}, wild {Wild:x})";
    }

    // Eight pages in each of four 2 MiB regions under different L4, L3 and L2 entries.
    private static readonly ulong[] RegionBase = [0, 512, 1UL << 18, (1UL << 27) + 1024];
    private static ulong Vpn(int page) => RegionBase[page / 8] + (ulong)(page % 8);
    private const int PageCount = 32;

    private static readonly Gen<Op> OpGen =
        from kind in Gen.Frequency(
            (5, Gen.Constant(OpKind.Map)), (2, Gen.Constant(OpKind.Unmap)), (5, Gen.Constant(OpKind.Read)),
            (4, Gen.Constant(OpKind.Write)), (1, Gen.Constant(OpKind.Switch)), (1, Gen.Constant(OpKind.Reback)),
            (8, Gen.Constant(OpKind.Hint)))
        from page in Gen.Choose(0, PageCount - 1)
        from data in Gen.Choose(0, 63)
        from stage in Gen.Choose(0, 3)
        from write in Gen.Elements(true, false)
        from wild in Gen.Frequency((3, Gen.Constant(0UL)), (1, Gen.Choose(0, int.MaxValue).Select(x => (ulong)x * 977)))
        select new Op(kind, page, data, stage, write, wild);

    [Fact]
    public void Prefetch_hints_change_no_translation_counter_or_entry()
    {
        var gen = from n in Gen.Choose(20, 200)
                  from ops in Gen.ArrayOf(OpGen, n)
                  select ops;
        Properties.Check(gen, Run, maxTest: 400);
    }

    private static List<long> ExitList(MmuStats s)
    {
        var list = new List<long>();
        foreach (long n in s.Exits) list.Add(n);
        return list;
    }

    private static void Run(Op[] ops)
    {
        var plain = new MmuTestGuest(MmuMode.Hap, pages: 1024, o => o with { TlbEntries = 16 });
        var hinted = new MmuTestGuest(MmuMode.Hap, pages: 1024, o => o with { TlbEntries = 16 });
        MmuTestGuest[] both = [plain, hinted];
        ulong[] roots = [plain.NewTable(), plain.NewTable()];
        Assert.Equal(roots, new[] { hinted.NewTable(), hinted.NewTable() });
        int current = 0;
        foreach (var g in both) g.Mmu.SwitchAddressSpace(roots[0], 1);
        int step = 0;
        foreach (var op in ops)
        {
            step++;
            ulong vpn = op.Wild != 0 ? op.Wild & ((1UL << X86Pte.VirtualPageBits) - 1) : Vpn(op.Page);
            switch (op.Kind)
            {
                case OpKind.Hint:
                    hinted.Mmu.Prefetch(new Vpn(vpn), op.Stage, op.Write);
                    break;
                case OpKind.Map:
                    foreach (var g in both)
                    {
                        bool present = X86Pte.IsPresent(g.Walk(roots[current], Vpn(op.Page)).Entry);
                        g.Map(roots[current], Vpn(op.Page), g.FirstDataGfn + (ulong)op.Data);
                        if (present) g.Mmu.Invlpg(Vpn(op.Page));
                    }
                    break;
                case OpKind.Unmap:
                    foreach (var g in both)
                    {
                        var (e, table, index, level) = g.Walk(roots[current], Vpn(op.Page));
                        if (!X86Pte.IsPresent(e) || level != 1) continue;
                        g.Mmu.WriteEntry(table, index, 0);
                        g.Mmu.Invlpg(Vpn(op.Page));
                    }
                    break;
                case OpKind.Read or OpKind.Write:
                {
                    var a = plain.Mmu.Translate(new Vpn(Vpn(op.Page)), op.Kind == OpKind.Write);
                    var b = hinted.Mmu.Translate(new Vpn(Vpn(op.Page)), op.Kind == OpKind.Write);
                    Assert.True(a == b, $"step {step} {op}: without hints {a}, with hints {b}.");
                    break;
                }
                case OpKind.Switch:
                    current ^= 1;
                    foreach (var g in both) g.Mmu.SwitchAddressSpace(roots[current], current + 1);
                    break;
                case OpKind.Reback:
                {
                    // The page (a table page for even Data, else a data page) is given back and populated again: it
                    // gets a fresh frame, so a hint noted before now names a stale one.
                    ulong gfn = op.Data % 2 == 0 ? (ulong)op.Data / 2 % 8 : plain.FirstDataGfn + (ulong)op.Data;
                    foreach (var g in both)
                    {
                        Assert.Equal(XenErrno.Ok, g.Hv.MemoryOp.DecreaseReservation(g.Domain.DomId, [gfn], 0));
                        Assert.Equal(XenErrno.Ok, g.Hv.MemoryOp.PopulatePhysmap(g.Domain.DomId, [gfn], 0));
                        g.Mmu.FlushTlb();
                    }
                    break;
                }
            }
        }
        MmuStats plainStats = plain.Mmu.Stats, hintedStats = hinted.Mmu.Stats;
        Assert.Equal(ExitList(plainStats), ExitList(hintedStats));
        Assert.Equal((plainStats with { Exits = default }).ToString(), (hintedStats with { Exits = default }).ToString());
        for (ulong table = 0; table < 8; table++)
            for (int i = 0; i < 512; i++)
                Assert.True(plain.Mmu.ReadEntry(table, i) == hinted.Mmu.ReadEntry(table, i), $"table {table} entry {i} differs after {ops.Length} steps.");
    }
}
