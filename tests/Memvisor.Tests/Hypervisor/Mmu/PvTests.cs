using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Hypervisor.Mmu.Pv;
using Memvisor.Machine.Frames;
using Memvisor.Machine;
using Memvisor.Machine.Time;
using Memvisor.Tests.Support;
using Memvisor.Seam;

namespace Memvisor.Tests.Hypervisor.Mmu;

/// <summary>Xen PV direct paging: what mmu_update and mmuext_op refuse, and that a refusal changes nothing.</summary>
public class PvTests
{
    private sealed class Pv
    {
        public readonly MmuTestGuest G = new(MmuMode.Pv);
        public PvMmu Mmu => (PvMmu)G.Mmu;
        public uint Mfn(ulong gfn) => G.Domain.P2m.Get(gfn).Mfn;
        public ref FrameInfo Frame(uint mfn) => ref G.Hv.Machine.Frames[mfn];

        /// <summary>An L4 with one mapping at vpn 0x10, pinned and loaded.</summary>
        public (ulong Root, ulong L1) Booted()
        {
            ulong root = G.NewTable();
            G.Map(root, 0x10, G.FirstDataGfn);
            Assert.Equal(XenErrno.Ok, Mmu.Pin(root, 4));
            Assert.True(Mmu.SwitchAddressSpace(root, 1));
            return (root, G.Walk(root, 0x10).Table);
        }

        public XenErrno Update(uint table, int index, ulong value)
        {
            var results = new XenErrno[1];
            Mmu.MmuUpdateOp([new MmuUpdate(table, index, value)], results);
            return results[0];
        }
    }

    [Fact]
    public void Pinning_validates_the_tables_below_and_types_them()
    {
        var pv = new Pv();
        var (root, l1) = pv.Booted();
        Assert.Equal(PageType.L4, pv.Frame(pv.Mfn(root)).Type);
        Assert.Equal(PageType.L1, pv.Frame(pv.Mfn(l1)).Type);
        Assert.Equal(PageType.Writable, pv.Frame(pv.Mfn(pv.G.FirstDataGfn)).Type);
        Assert.Equal(TranslateStatus.Ok, pv.Mmu.Translate(new Vpn(0x10), write: true).Status);
        Assert.Equal(pv.G.FirstDataGfn, pv.Mmu.Translate(new Vpn(0x10), write: true).Gfn.Value);
        // The hypervisor's slots were filled in, and the m2p's is read-only.
        ulong m2p = pv.G.Hv.Machine.ReadWord(pv.Mfn(root), PageTypes.M2pSlot);
        Assert.True(X86Pte.IsPresent(m2p));
        Assert.Equal(0UL, m2p & X86Pte.Writable);
    }

    [Fact]
    public void Mapping_a_frame_of_another_domain_is_refused_and_changes_nothing()
    {
        var pv = new Pv();
        var (_, l1) = pv.Booted();
        var other = TestHost.Domain(pv.G.Hv, "other", 64, 64);
        uint foreign = other.P2m.Get(3).Mfn;
        ulong before = pv.G.Hv.Machine.ReadWord(pv.Mfn(l1), 20);
        ushort refs = pv.Frame(foreign).RefCount;

        Assert.Equal(XenErrno.EPERM, pv.Update(pv.Mfn(l1), 20, X86Pte.Make(foreign, MmuTestGuest.Flags)));

        Assert.Equal(before, pv.G.Hv.Machine.ReadWord(pv.Mfn(l1), 20));
        Assert.Equal(refs, pv.Frame(foreign).RefCount);
        Assert.Equal(1, pv.G.Mmu.Stats.UpdatesRefused);
    }

    [Fact]
    public void A_writable_mapping_of_a_page_table_frame_is_refused_and_a_read_only_one_allowed()
    {
        var pv = new Pv();
        var (root, l1) = pv.Booted();
        uint l1Mfn = pv.Mfn(l1);
        Assert.Equal(XenErrno.EBUSY, pv.Update(l1Mfn, 21, X86Pte.Make(l1Mfn, MmuTestGuest.Flags)));
        Assert.Equal(XenErrno.EBUSY, pv.Update(l1Mfn, 22, X86Pte.Make(pv.Mfn(root), MmuTestGuest.Flags)));
        Assert.Equal(0UL, pv.G.Hv.Machine.ReadWord(l1Mfn, 21));
        Assert.Equal(XenErrno.Ok, pv.Update(l1Mfn, 21, X86Pte.Make(l1Mfn, X86Pte.Present | X86Pte.User)));
        Assert.Equal(PageType.L1, pv.Frame(l1Mfn).Type);
    }

    [Fact]
    public void An_entry_in_the_hypervisor_region_is_refused()
    {
        var pv = new Pv();
        var (root, _) = pv.Booted();
        uint rootMfn = pv.Mfn(root);
        ulong xen = pv.G.Hv.Machine.ReadWord(rootMfn, 260);
        uint table = pv.Mfn(pv.G.NewTable());
        Assert.Equal(XenErrno.EPERM, pv.Update(rootMfn, 260, X86Pte.Make(table, MmuTestGuest.Flags)));
        Assert.Equal(xen, pv.G.Hv.Machine.ReadWord(rootMfn, 260));
        // Nor can a new L4 carry guest entries there: it fails validation when pinned.
        ulong bad = pv.G.NewTable();
        pv.G.Hv.Machine.WriteWord(pv.Mfn(bad), 265, X86Pte.Make(table, MmuTestGuest.Flags));
        Assert.Equal(XenErrno.EPERM, pv.Mmu.Pin(bad, 4));
        Assert.Equal(0, pv.Frame(pv.Mfn(bad)).TypeCount);
    }

    [Fact]
    public void A_table_that_does_not_validate_cannot_become_CR3()
    {
        var pv = new Pv();
        var (root, l1) = pv.Booted();
        var other = TestHost.Domain(pv.G.Hv, "other", 64, 64);
        // An L4 whose L3 points to an L2 that maps another domain's frame as a table.
        ulong l4 = pv.G.NewTable(), l3 = pv.G.NewTable();
        var m = pv.G.Hv.Machine;
        m.WriteWord(pv.Mfn(l4), 0, X86Pte.Make(pv.Mfn(l3), MmuTestGuest.TableFlags));
        m.WriteWord(pv.Mfn(l3), 0, X86Pte.Make(other.P2m.Get(0).Mfn, MmuTestGuest.TableFlags));

        Assert.False(pv.Mmu.SwitchAddressSpace(l4, 2));
        Assert.Equal(root, pv.Mmu.Root);
        Assert.Equal(0, pv.Frame(pv.Mfn(l4)).TypeCount);
        Assert.Equal(0, pv.Frame(pv.Mfn(l3)).TypeCount); // the validation's partial work was undone
        // A frame that is already an L1 cannot be loaded as an L4 either.
        Assert.Equal(XenErrno.EBUSY, pv.Mmu.MmuextOp(MmuextCmd.NewBaseptr, pv.Mfn(l1)));
    }

    [Fact]
    public void A_refused_entry_leaves_the_rest_of_the_batch_to_proceed()
    {
        var pv = new Pv();
        var (_, l1) = pv.Booted();
        uint l1Mfn = pv.Mfn(l1);
        var other = TestHost.Domain(pv.G.Hv, "other", 64, 64);
        MmuUpdate[] batch =
        [
            new(l1Mfn, 30, X86Pte.Make(pv.Mfn(pv.G.FirstDataGfn + 1), MmuTestGuest.Flags)),
            new(l1Mfn, 31, X86Pte.Make(other.P2m.Get(1).Mfn, MmuTestGuest.Flags)),
            new(l1Mfn, 32, X86Pte.Make(pv.Mfn(pv.G.FirstDataGfn + 2), MmuTestGuest.Flags)),
        ];
        var results = new XenErrno[3];
        Assert.Equal(XenErrno.EPERM, pv.Mmu.MmuUpdateOp(batch, results));
        Assert.Equal([XenErrno.Ok, XenErrno.EPERM, XenErrno.Ok], results);
        Assert.Equal(0UL, pv.G.Hv.Machine.ReadWord(l1Mfn, 31));
        Assert.True(X86Pte.IsPresent(pv.G.Hv.Machine.ReadWord(l1Mfn, 32)));
    }

    [Fact]
    public void Queued_updates_go_in_one_hypercall_and_unmapping_drops_the_type_references()
    {
        var pv = new Pv();
        var (_, l1) = pv.Booted();
        long calls = pv.G.Mmu.Stats.Hypercalls;
        for (ulong i = 0; i < 10; i++) pv.G.Mmu.WriteEntry(l1, 40 + (int)i, X86Pte.Make(pv.G.FirstDataGfn + 10 + i, MmuTestGuest.Flags));
        Assert.Equal(calls, pv.G.Mmu.Stats.Hypercalls);
        Assert.Equal(pv.G.FirstDataGfn + 15, pv.Mmu.Translate(new Vpn(45), write: false).Gfn.Value);
        Assert.Equal(calls + 1, pv.G.Mmu.Stats.Hypercalls);
        uint data = pv.Mfn(pv.G.FirstDataGfn + 15);
        Assert.Equal(PageType.Writable, pv.Frame(data).Type);
        pv.G.Mmu.WriteEntry(l1, 45, 0);
        pv.G.Mmu.Submit();
        Assert.Equal(0, pv.Frame(data).TypeCount);
        Assert.Equal(0, pv.Frame(data).RefCount);
    }

    [Fact]
    public void A_pv_domain_is_refused_populate_on_demand_sharing_and_paging_as_Xen_refuses_them()
    {
        using var hv = new Host(new MachineMemory(16384, 1), new CostModel(), () => 0, new OvercommitOptions { Sharing = new SharingOptions { Enabled = true } });
        var pv = new MmuOptions { Mode = MmuMode.Pv };
        Assert.Equal(XenErrno.EOPNOTSUPP, hv.CreateDomain(new DomainConfig { Name = "pod", MemoryPages = 256, MaxPages = 512, Allocation = AllocationMode.OnDemand, Mmu = pv }, out _));
        Assert.Equal(XenErrno.EOPNOTSUPP, hv.CreateDomain(new DomainConfig { Name = "shared", MemoryPages = 256, MaxPages = 256, Mmu = pv }, out _));
        Assert.Equal(XenErrno.Ok, hv.CreateDomain(new DomainConfig { Name = "pv", MemoryPages = 256, MaxPages = 256, Sharing = false, Mmu = pv }, out var d));
        Assert.Equal(MmuMode.Pv, d!.Mmu!.Mode);
        Assert.Equal(XenErrno.EOPNOTSUPP, hv.DomCtl.SetPagingTarget(d.DomId, 128));
        Assert.Contains("needs an HVM domain", hv.Refusals.Kept[^1].Message);
        Assert.Equal(256, d.TotPages);
    }

    [Fact]
    public void The_validation_limit_bounds_each_operation_not_the_domain_s_lifetime()
    {
        var g = new MmuTestGuest(MmuMode.Pv);
        var machine = g.Hv.Machine;
        var types = new PageTypes(machine, g.Domain.DomId, validateLimit: 600);
        uint Mfn(ulong gfn) => g.Domain.P2m.Get(gfn).Mfn;
        // An L1 with 400 read-only entries naming the domain's own data frames.
        uint L1(ulong gfn)
        {
            for (int i = 0; i < 400; i++) machine.WriteWord(Mfn(gfn), i, X86Pte.Make(Mfn(g.FirstDataGfn + (ulong)i), X86Pte.Present));
            return Mfn(gfn);
        }
        uint a = L1(1), b = L1(2);
        types.BeginOperation();
        Assert.Equal(XenErrno.Ok, types.GetType(a, PageType.L1));
        types.BeginOperation();
        Assert.Equal(XenErrno.Ok, types.GetType(b, PageType.L1));
        // One operation that would validate 800 entries (an L2 over two fresh L1s) is refused, and takes nothing.
        uint l2 = Mfn(3);
        machine.WriteWord(l2, 0, X86Pte.Make(L1(4), MmuTestGuest.TableFlags & ~X86Pte.Writable));
        machine.WriteWord(l2, 1, X86Pte.Make(L1(5), MmuTestGuest.TableFlags & ~X86Pte.Writable));
        types.BeginOperation();
        Assert.Equal(XenErrno.E2BIG, types.GetType(l2, PageType.L2));
        Assert.Equal(0, machine.Frames[Mfn(4)].TypeCount);
        Assert.Equal(0, machine.Frames[l2].TypeCount);
    }
}
