using FsCheck;
using FsCheck.Fluent;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Hypervisor.Mmu.Shadow;
using Memvisor.Tests.Support;
using Memvisor.Seam;

namespace Memvisor.Tests.Hypervisor.Mmu;

/// <summary>
/// Shadow equivalence: after every step of a random sequence of page-table edits (each followed by the INVLPG or
/// flush x86 requires), address-space switches and accesses, every present shadow entry maps the same gfn as the
/// guest's tables with no more permission than they give (present only once accessed, writable only once dirty),
/// and every access the vCPU completes returns exactly what the guest's own walk gives.
/// </summary>
public class ShadowProperties
{
    private enum OpKind { Map, Unmap, ClearAccessed, Read, Write, Switch, DropRegion }

    private sealed record Op(OpKind Kind, int Page, int Data, int Flags, int Space)
    {
        public override string ToString() => $"{Kind}(page {Page}, data {Data}, flags {Flags}, as {Space})";
    }

    // Eight pages in each of four 2 MiB regions placed under different L4, L3 and L2 entries.
    private static readonly ulong[] RegionBase = [0, 512, 1UL << 18, (1UL << 27) + 1024];
    private static ulong Vpn(int page) => RegionBase[page / 8] + (ulong)(page % 8);
    private const int PageCount = 32;

    private static readonly Gen<Op> OpGen =
        from kind in Gen.Frequency(
            (6, Gen.Constant(OpKind.Map)), (2, Gen.Constant(OpKind.Unmap)), (2, Gen.Constant(OpKind.ClearAccessed)),
            (6, Gen.Constant(OpKind.Read)), (5, Gen.Constant(OpKind.Write)), (2, Gen.Constant(OpKind.Switch)),
            (1, Gen.Constant(OpKind.DropRegion)))
        from page in Gen.Choose(0, PageCount - 1)
        from data in Gen.Choose(0, 63)
        from flags in Gen.Choose(0, 7)
        from space in Gen.Choose(0, 1)
        select new Op(kind, page, data, flags, space);

    [Fact]
    public void Shadow2_shadows_agree_with_the_guest_tables_after_every_step() => Check(MmuMode.Shadow2);

    [Fact]
    public void Shadow3_shadows_agree_with_the_guest_tables_after_every_step() => Check(MmuMode.Shadow3);

    private static void Check(MmuMode mode)
    {
        var gen = from n in Gen.Choose(20, 160)
                  from tagged in Gen.Elements(true, false)
                  from ops in Gen.ArrayOf(OpGen, n)
                  select (tagged, ops);
        Properties.Check(gen, t => Run(mode, t.tagged, t.ops), maxTest: 1500);
    }

    private static void Run(MmuMode mode, bool tagged, Op[] ops)
    {
        var g = new MmuTestGuest(mode, pages: 1024, o => o with { TaggedTlb = tagged, TlbEntries = 64 });
        var shadow = (ShadowMmu)g.Mmu;
        ulong[] roots = [g.NewTable(), g.NewTable()];
        int current = 0;
        g.Mmu.SwitchAddressSpace(roots[0], 1);
        int step = 0;
        foreach (var op in ops)
        {
            step++;
            ulong root = roots[current], vpn = Vpn(op.Page);
            var (e, table, index, level) = g.Walk(root, vpn);
            bool present = X86Pte.IsPresent(e) && level == 1;
            switch (op.Kind)
            {
                case OpKind.Map:
                {
                    ulong flags = X86Pte.Present | X86Pte.User
                        | ((op.Flags & 1) != 0 ? X86Pte.Writable : 0)
                        | ((op.Flags & 2) != 0 ? X86Pte.Accessed : 0)
                        | ((op.Flags & 4) != 0 ? X86Pte.Accessed | X86Pte.Dirty : 0);
                    g.Map(root, vpn, g.FirstDataGfn + (ulong)op.Data, flags);
                    if (present) g.Mmu.Invlpg(vpn);
                    break;
                }
                case OpKind.Unmap when present:
                    g.Mmu.WriteEntry(table, index, 0);
                    g.Mmu.Invlpg(vpn);
                    break;
                case OpKind.ClearAccessed when present:
                    g.Mmu.WriteEntry(table, index, e & ~(X86Pte.Accessed | ((op.Flags & 1) != 0 ? X86Pte.Dirty : 0)));
                    g.Mmu.Invlpg(vpn);
                    break;
                case OpKind.Read or OpKind.Write:
                {
                    bool write = op.Kind == OpKind.Write;
                    var t = g.Mmu.Translate(new Vpn(vpn), write);
                    var (after, _, _, afterLevel) = g.Walk(root, vpn);
                    if (t.Status == TranslateStatus.Ok)
                    {
                        Assert.True(g.GuestGfn(root, vpn) == t.Gfn.Value, $"step {step} {op}: the vCPU gave gfn {t.Gfn.Value}, the guest maps {g.GuestGfn(root, vpn)}.");
                        Assert.True((after & X86Pte.Accessed) != 0, $"step {step} {op}: an access left the accessed bit clear.");
                        if (write) Assert.True((after & (X86Pte.Writable | X86Pte.Dirty)) == (X86Pte.Writable | X86Pte.Dirty), $"step {step} {op}: a write went through an entry not writable and dirty.");
                    }
                    else
                    {
                        bool guestAllows = X86Pte.IsPresent(after) && afterLevel == 1 && (!write || (after & X86Pte.Writable) != 0);
                        Assert.False(guestAllows, $"step {step} {op}: the guest's tables allow the access, yet it faulted to the guest.");
                    }
                    break;
                }
                case OpKind.Switch when op.Space != current:
                    current = op.Space;
                    g.Mmu.SwitchAddressSpace(roots[current], current + 1);
                    break;
                case OpKind.DropRegion:
                {
                    // munmap of a whole region: its L1 table is unlinked from the L2, freed, and the TLB flushed.
                    ulong l2 = root;
                    for (int l = 4; l > 2 && l2 != ulong.MaxValue; l--)
                    {
                        ulong up = g.Mmu.ReadEntry(l2, X86Pte.IndexAt(vpn, l));
                        l2 = X86Pte.IsPresent(up) ? X86Pte.Frame(up) : ulong.MaxValue;
                    }
                    if (l2 == ulong.MaxValue) break;
                    ulong pde = g.Mmu.ReadEntry(l2, X86Pte.IndexAt(vpn, 2));
                    if (!X86Pte.IsPresent(pde)) break;
                    g.Mmu.WriteEntry(l2, X86Pte.IndexAt(vpn, 2), 0);
                    g.Mmu.FlushTlb();
                    g.FreeTable(X86Pte.Frame(pde));
                    break;
                }
            }
            // Every present shadow entry agrees with the guest's tables and gives no more than they do.
            for (int p = 0; p < PageCount; p++)
            {
                ulong v = Vpn(p);
                if (shadow.Probe(v) is not var (gfn, writable)) continue;
                var (ge, _, _, gl) = g.Walk(roots[current], v);
                Assert.True(X86Pte.IsPresent(ge) && gl == 1, $"step {step} {ops[step - 1]}: page {p} is present in the shadow but not in the guest's tables.");
                Assert.True(X86Pte.Frame(ge) == gfn, $"step {step} {ops[step - 1]}: page {p}: shadow gfn {gfn}, guest gfn {X86Pte.Frame(ge)}.");
                Assert.True((ge & X86Pte.Accessed) != 0, $"step {step} {ops[step - 1]}: page {p} is present in the shadow while its guest entry is not accessed.");
                if (writable)
                    Assert.True((ge & (X86Pte.Writable | X86Pte.Dirty)) == (X86Pte.Writable | X86Pte.Dirty), $"step {step} {ops[step - 1]}: page {p} is writable in the shadow but not writable and dirty in the guest's tables.");
            }
        }
    }
}
