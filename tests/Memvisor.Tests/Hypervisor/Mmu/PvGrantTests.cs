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
/// gives it, an mmu_update may neither remove that entry nor forge one, and the unmap clears it. A writable grant of a
/// PV granter's page takes the writable type, so no page table of the granter is ever writable by another domain.
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
        // The guest reading its own table sees the entry by that gfn too, not by the granter's.
        Assert.Equal(p.At, p.G.GuestGfn(p.Root, MappedVpn));
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

    [Fact]
    public void A_table_losing_its_type_detaches_its_grant_entries_which_no_validation_takes_back()
    {
        var p = new Pair();
        Assert.Equal(XenErrno.Ok, p.Map(out uint handle));
        ulong pte = p.Hv.Machine.ReadWord(p.L1Mfn, (int)MappedVpn);
        // The guest takes the L1 out of its L2: the table loses its type with the grant entry in it (Xen's implicit unmap).
        ulong l2 = p.G.EnsureTable(p.Root, MappedVpn, 2);
        p.G.Mmu.WriteEntry(l2, X86Pte.IndexAt(MappedVpn, 2), 0);
        p.G.Mmu.Submit();
        Assert.Equal(0, p.Hv.Machine.Frames[p.L1Mfn].TypeCount);
        Assert.Equal(1, p.Hv.Grants.Stats.ImplicitUnmaps);
        Assert.Null(p.Hv.Grants.PteMappingAt(p.G.Domain.DomId, p.L1Mfn, (int)MappedVpn));
        Assert.All(p.Hv.Grants.MappingsHeldBy(p.G.Domain.DomId), m => Assert.False(m.HasPte));
        // The entry stays in the page's bytes, and the page cannot be a table again while it does.
        Assert.Equal(pte, p.Hv.Machine.ReadWord(p.L1Mfn, (int)MappedVpn));
        Assert.Equal(XenErrno.EINVAL, p.Mmu.Pin(p.L1, 1));
        // The mapping still holds the frame: the granter cannot give it back; the unmap by handle releases it and leaves the page's bytes alone.
        Assert.Equal(XenErrno.EBUSY, p.Hv.PortFor(p.Front).DecreaseReservation([GrantedGfn], 0));
        p.Audit();
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.Unmap(p.G.Domain.DomId, handle));
        Assert.Equal(pte, p.Hv.Machine.ReadWord(p.L1Mfn, (int)MappedVpn));
        p.Audit();
        // Once the guest clears the word, the page is a table again and takes a new grant entry in the same slot.
        Assert.Equal(XenErrno.Ok, p.Update((int)MappedVpn, 0));
        p.G.Mmu.WriteEntry(l2, X86Pte.IndexAt(MappedVpn, 2), X86Pte.Make(p.L1, MmuTestGuest.TableFlags));
        p.G.Mmu.Submit();
        Assert.Equal(PageType.L1, p.Hv.Machine.Frames[p.L1Mfn].Type);
        Assert.Equal(XenErrno.Ok, p.Map(out _));
        Assert.Equal(p.At, p.Hv.Grants.PteMappingAt(p.G.Domain.DomId, p.L1Mfn, (int)MappedVpn)?.At);
        var t = p.Mmu.Translate(new Vpn(MappedVpn), write: false);
        Assert.Equal((TranslateStatus.Ok, p.At), (t.Status, t.Gfn.Value));
        p.Audit();
    }

    [Fact]
    public void A_pv_granters_page_table_is_never_writable_by_another_domain()
    {
        var p = new Pair();
        var back = TestHost.Domain(p.Hv, "pvback", 64, 64);
        var mmu = (PvMmu)p.Hv.AttachMmu(back, new MmuOptions { Mode = MmuMode.Pv });
        const ulong table = 6;
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.SetupTable(back.DomId, 1));
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.GrantAccess(back.DomId, 1, p.Front.DomId, table, readOnly: false));
        Assert.Equal(XenErrno.Ok, mmu.Pin(table, 1));
        uint mfn = back.P2m.Get(table).Mfn;
        // The grantee maps at a gfn it ballooned out, and takes a transfer at another.
        Assert.Equal(XenErrno.Ok, p.Hv.PortFor(p.Front).DecreaseReservation([40, 41], 0));
        // Its pinned L1, granted writable: a writable mapping is refused, a read-only one is not.
        Assert.Equal(XenErrno.EBUSY, p.Hv.Grants.Map(p.Front.DomId, back.DomId, 1, 40, readOnly: false, out _));
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.Map(p.Front.DomId, back.DomId, 1, 40, readOnly: true, out uint ro));
        Assert.Equal((PageType.L1, (ushort)1), (p.Hv.Machine.Frames[mfn].Type, p.Hv.Machine.Frames[mfn].TypeCount));
        // A copy into it, by the grantee through the grant or by the granter into its own page, is refused and writes nothing.
        var bytes = new byte[PageSize.Bytes];
        Assert.True(p.Hv.PortFor(back).ReadPage(new Gfn(table), bytes));
        Assert.Equal(XenErrno.EBUSY, p.Hv.Grants.Copy(p.Front.DomId, new(p.Front.DomId, GrantedGfn), new(back.DomId, 1), 0, 64));
        Assert.Equal(XenErrno.EBUSY, p.Hv.Grants.Copy(back.DomId, new(back.DomId, 7), new(back.DomId, table), 0, 64));
        var after = new byte[PageSize.Bytes];
        Assert.True(p.Hv.PortFor(back).ReadPage(new Gfn(table), after));
        Assert.Equal(bytes, after);
        // Nor can the pinned table be given away by a transfer.
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.SetupTable(p.Front.DomId, 1));
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.AcceptTransfer(p.Front.DomId, 9, back.DomId, 41));
        Assert.Equal(XenErrno.EBUSY, p.Hv.Grants.Transfer(back.DomId, table, p.Front.DomId, 9));
        p.Audit();
        // Unpinned, it maps writable, the mapping holding the writable type: it cannot be pinned as a table until unmapped.
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.Unmap(p.Front.DomId, ro));
        Assert.Equal(XenErrno.Ok, mmu.MmuextOp(MmuextCmd.UnpinTable, mfn));
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.Map(p.Front.DomId, back.DomId, 1, 40, readOnly: false, out uint rw));
        Assert.Equal((PageType.Writable, (ushort)1), (p.Hv.Machine.Frames[mfn].Type, p.Hv.Machine.Frames[mfn].TypeCount));
        p.Audit();
        Assert.Equal(XenErrno.EBUSY, mmu.Pin(table, 1));
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.Copy(p.Front.DomId, new(p.Front.DomId, GrantedGfn), new(back.DomId, 1), 0, 64));
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.Unmap(p.Front.DomId, rw));
        Assert.Equal(0, p.Hv.Machine.Frames[mfn].TypeCount);
        p.Audit();
        // The copy wrote real bytes, which an L1 does not validate; zeroed again, the page is a table once more.
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.Copy(back.DomId, new(back.DomId, 8), new(back.DomId, table), 0, 64));
        Assert.Equal(XenErrno.Ok, mmu.Pin(table, 1));
        p.Audit();
    }

    [Fact]
    public void A_domain_being_migrated_takes_no_grant_entry_and_arrives_whole()
    {
        var p = new Pair();
        using var to = TestHost.Create(frames: 16384);
        var link = new Memvisor.Hypervisor.Migration.MigrationOptions { BandwidthBytesPerSecond = 1e6, LatencyNs = 1_000_000 };
        Assert.Equal(XenErrno.Ok, p.Hv.StartMigration(p.G.Domain.DomId, to, link, out var m));
        // Its tables could not carry the entry to the destination: the map is refused while it moves, and nothing changes.
        string before = TestHost.Fingerprint(p.Hv);
        Assert.Equal(XenErrno.EBUSY, p.Map(out _));
        Assert.Equal(before, TestHost.Fingerprint(p.Hv));
        for (int s = 0; m!.Phase == Memvisor.Hypervisor.Migration.MigrationPhase.PreCopy && s < 100000; s++) m.Step(10_000_000);
        Assert.Equal(Memvisor.Hypervisor.Migration.MigrationPhase.Done, m.Phase);
        Assert.False(m.Destination.IsCrashed);
        Assert.Equal(TranslateStatus.Ok, p.Mmu.Translate(new Vpn(0x10), write: false).Status);
        Assert.Empty(Auditor.Check(to));
    }

    [Fact]
    public void A_detached_entry_reads_by_the_grantees_gfn_and_its_unmap_flushes_the_tlb()
    {
        var p = new Pair();
        Assert.Equal(XenErrno.Ok, p.Map(out uint handle));
        Assert.Equal(TranslateStatus.Ok, p.Mmu.Translate(new Vpn(MappedVpn), write: true).Status);
        ulong l2 = p.G.EnsureTable(p.Root, MappedVpn, 2);
        p.G.Mmu.WriteEntry(l2, X86Pte.IndexAt(MappedVpn, 2), 0);
        p.G.Mmu.Submit();
        Assert.Equal(1, p.Hv.Grants.Stats.ImplicitUnmaps);
        // The guest reading the page finds the entry by the gfn its p2m still maps the frame at, never the granter's.
        Assert.Equal(p.At, X86Pte.Frame(p.Mmu.ReadEntry(p.L1, (int)MappedVpn)));
        // The TLB may still hold the translation; the unmap flushes it, and once unmapped the entry reads as nothing.
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.Unmap(p.G.Domain.DomId, handle));
        Assert.Equal(TranslateStatus.PageFault, p.Mmu.Translate(new Vpn(MappedVpn), write: true).Status);
        Assert.Equal(0UL, p.Mmu.ReadEntry(p.L1, (int)MappedVpn));
    }

    [Fact]
    public void A_pv_guests_plain_writes_never_reach_a_page_table()
    {
        var p = new Pair();
        var back = TestHost.Domain(p.Hv, "pvback", 64, 64);
        var mmu = (PvMmu)p.Hv.AttachMmu(back, new MmuOptions { Mode = MmuMode.Pv });
        const ulong table = 6;
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.SetupTable(back.DomId, 1));
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.GrantAccess(back.DomId, 1, p.G.Domain.DomId, table, readOnly: false));
        uint mfn = back.P2m.Get(table).Mfn;
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.Map(p.G.Domain.DomId, back.DomId, 1, p.At, readOnly: false, out uint handle));
        // The grantee cannot forge an entry into its own validated L1 by a plain write (only mmu_update validates one),
        // so nothing can drop the type its mapping holds on the granter's page.
        var port = p.Hv.PortFor(p.G.Domain);
        Assert.False(port.WriteWord(new Gfn(p.L1), 7, X86Pte.Make(mfn, MmuTestGuest.Flags)));
        Assert.False(port.Touch(new Gfn(p.L1), write: true, ContentHandle.Zero) != AccessOutcome.Refused);
        Assert.Equal(0UL, p.Hv.Machine.ReadWord(p.L1Mfn, 7));
        Assert.Equal((PageType.Writable, (ushort)1), (p.Hv.Machine.Frames[mfn].Type, p.Hv.Machine.Frames[mfn].TypeCount));
        p.Audit();
        // Unmapped, the granter pins the page as its L1: the grantee's plain write through another mapping is refused too.
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.Unmap(p.G.Domain.DomId, handle));
        Assert.Equal(XenErrno.Ok, mmu.Pin(table, 1));
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.GrantAccess(back.DomId, 2, p.G.Domain.DomId, table, readOnly: true));
        Assert.Equal(XenErrno.Ok, p.Hv.Grants.Map(p.G.Domain.DomId, back.DomId, 2, p.At, readOnly: true, out _));
        Assert.False(port.WriteWord(new Gfn(p.At), 3, X86Pte.Make(p.L1Mfn, MmuTestGuest.Flags)));
        Assert.False(p.Hv.PortFor(back).WriteWord(new Gfn(table), 3, X86Pte.Make(mfn, MmuTestGuest.Flags)));
        Assert.Equal(0UL, p.Hv.Machine.ReadWord(mfn, 3));
        p.Audit();
    }
}
