using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Hypervisor.Mmu.Pv;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor.Mmu;

/// <summary>
/// A PV domain's grant mappings in its own page tables (GNTMAP_host_map | GNTMAP_contains_pte, Xen's
/// create_grant_pv_mapping): the L1 entry names the granter's frame, the walk reaches it by the gfn the grantee's p2m
/// gives it, an mmu_update may neither remove that entry nor forge one, and the unmap clears it.
/// </summary>
public class PvGrantTests
{
    private const uint Gref = 3;
    private const ulong GrantedGfn = 5, MappedVpn = 0x11;

    private sealed class Pair
    {
        public readonly MmuTestGuest G = new(MmuMode.Pv);
        public readonly Memvisor.Hypervisor.Domains.Domain Front;
        public readonly ulong Root, L1, At;
        public readonly byte[] Written = new byte[PageSize.Bytes];

        public Pair()
        {
            Root = G.NewTable();
            G.Map(Root, 0x10, G.FirstDataGfn);
            Assert.Equal(XenErrno.Ok, Mmu.Pin(Root, 4));
            Assert.True(Mmu.SwitchAddressSpace(Root, 1));
            L1 = G.Walk(Root, 0x10).Table;
            // The granter (an HVM guest) writes a page and grants it to the PV domain.
            Front = TestHost.Domain(Hv, "front", 64, 64);
            new Random(7).NextBytes(Written);
            Assert.True(Hv.PortFor(Front).WritePage(new Gfn(GrantedGfn), Written));
            Assert.Equal(XenErrno.Ok, Hv.Grants.SetupTable(Front.DomId, 1));
            Assert.Equal(XenErrno.Ok, Hv.Grants.GrantAccess(Front.DomId, Gref, G.Domain.DomId, GrantedGfn, readOnly: false));
            // The grantee maps it into a gfn its balloon gave back, as Linux's backends do.
            At = G.FirstDataGfn + 100;
            Assert.Equal(XenErrno.Ok, Hv.PortFor(G.Domain).DecreaseReservation([At], 0));
        }

        public Host Hv => G.Hv;
        public PvMmu Mmu => (PvMmu)G.Mmu;
        public uint L1Mfn => G.Domain.P2m.Get(L1).Mfn;
        public uint Granted => Front.P2m.Get(GrantedGfn).Mfn;

        public XenErrno Map(out uint handle) => Hv.Grants.MapPte(G.Domain.DomId, Front.DomId, Gref, At, L1Mfn, (int)MappedVpn, readOnly: false, out handle);

        public XenErrno Update(int index, ulong value)
        {
            var results = new XenErrno[1];
            Mmu.MmuUpdateOp([new MmuUpdate(L1Mfn, index, value)], results);
            return results[0];
        }

        public void Audit()
        {
            Assert.Empty(Auditor.Check(Hv));
        }
    }

    [Fact]
    public void The_walk_reaches_the_granted_frame_and_the_unmap_takes_the_entry_away()
    {
        var p = new Pair();
        Assert.Equal(TranslateStatus.PageFault, p.Mmu.Translate(new Vpn(MappedVpn), write: false).Status);
        Assert.Equal(XenErrno.Ok, p.Map(out uint handle));
        ulong pte = p.Hv.Machine.ReadWord(p.L1Mfn, (int)MappedVpn);
        Assert.Equal((ulong)p.Granted, X86Pte.Frame(pte));
        Assert.NotEqual(0UL, pte & X86Pte.GrantMapped);
        p.Audit();
        // The walk gives the gfn the grantee's p2m names the frame by; its bytes are the granter's, and a write is seen there.
        var t = p.Mmu.Translate(new Vpn(MappedVpn), write: true);
        Assert.Equal((TranslateStatus.Ok, p.At), (t.Status, t.Gfn.Value));
        var page = new byte[PageSize.Bytes];
        var port = p.Hv.PortFor(p.G.Domain);
        Assert.True(port.ReadPage(t.Gfn, page));
        Assert.Equal(p.Written, page);
        page[9] ^= 0xff;
        Assert.True(port.WritePage(t.Gfn, page));
        var front = new byte[PageSize.Bytes];
        Assert.True(p.Hv.PortFor(p.Front).ReadPage(new Gfn(GrantedGfn), front));
        Assert.Equal(page, front);
        // The granter cannot give the page back while it is mapped.
        Assert.Equal(XenErrno.EBUSY, p.Hv.PortFor(p.Front).DecreaseReservation([GrantedGfn], 0));
        // The unmap clears the entry and the TLB: the walk faults again, and the page is the granter's to give back.
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.Unmap(p.G.Domain.DomId, handle));
        Assert.Equal(0UL, p.Hv.Machine.ReadWord(p.L1Mfn, (int)MappedVpn));
        Assert.Equal(TranslateStatus.PageFault, p.Mmu.Translate(new Vpn(MappedVpn), write: false).Status);
        p.Audit();
        Assert.Equal(XenErrno.Ok, p.Hv.PortFor(p.Front).DecreaseReservation([GrantedGfn], 0));
        p.Audit();
    }

    [Fact]
    public void An_mmu_update_may_neither_remove_a_grant_entry_nor_forge_one()
    {
        var p = new Pair();
        Assert.Equal(XenErrno.Ok, p.Map(out _));
        ulong pte = p.Hv.Machine.ReadWord(p.L1Mfn, (int)MappedVpn);
        string before = TestHost.Fingerprint(p.Hv);
        // Clearing it, or pointing it at the grantee's own page, is refused and changes nothing.
        Assert.Equal(XenErrno.EPERM, p.Update((int)MappedVpn, 0));
        uint own = p.G.Domain.P2m.Get(p.G.FirstDataGfn + 1).Mfn;
        Assert.Equal(XenErrno.EPERM, p.Update((int)MappedVpn, X86Pte.Make(own, MmuTestGuest.Flags)));
        // An entry with the grant bit the guest wrote itself, even naming its own page, is refused.
        Assert.Equal(XenErrno.EINVAL, p.Update((int)MappedVpn + 1, X86Pte.Make(own, MmuTestGuest.Flags | X86Pte.GrantMapped)));
        // And one naming the granted frame without it is another domain's frame: refused as always.
        Assert.Equal(XenErrno.EPERM, p.Update((int)MappedVpn + 1, X86Pte.Make(p.Granted, MmuTestGuest.Flags)));
        Assert.Equal(pte, p.Hv.Machine.ReadWord(p.L1Mfn, (int)MappedVpn));
        Assert.Equal(before, TestHost.Fingerprint(p.Hv));
        p.Audit();
    }

    [Fact]
    public void Only_a_pv_domains_own_validated_l1_takes_a_grant_entry_and_a_domain_holding_one_is_not_saved()
    {
        var p = new Pair();
        var hvm = TestHost.Domain(p.Hv, "hvm", 64, 64);
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.GrantAccess(p.Front.DomId, Gref + 1, hvm.DomId, GrantedGfn, readOnly: true));
        Assert.Equal(XenErrno.EINVAL, p.Hv.Grants.MapPte(hvm.DomId, p.Front.DomId, Gref + 1, 40, p.L1Mfn, 1, true, out _));
        // A data page of the grantee's, an L4, and an entry in use are refused.
        uint data = p.G.Domain.P2m.Get(p.G.FirstDataGfn).Mfn;
        Assert.Equal(XenErrno.EINVAL, p.Hv.Grants.MapPte(p.G.Domain.DomId, p.Front.DomId, Gref, p.At, data, 1, false, out _));
        Assert.Equal(XenErrno.EINVAL, p.Hv.Grants.MapPte(p.G.Domain.DomId, p.Front.DomId, Gref, p.At, p.G.Domain.P2m.Get(p.Root).Mfn, 1, false, out _));
        Assert.Equal(XenErrno.EBUSY, p.Hv.Grants.MapPte(p.G.Domain.DomId, p.Front.DomId, Gref, p.At, p.L1Mfn, 0x10, false, out _));
        Assert.Equal(XenErrno.Ok, p.Map(out uint handle));
        using (var image = new MemoryStream())
            Assert.Equal(XenErrno.EBUSY, p.Hv.SaveDomain(p.G.Domain.DomId, image, out _, out _));
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.Unmap(p.G.Domain.DomId, handle));
        p.Audit();
    }
}
