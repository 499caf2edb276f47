using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Grants;
using Memvisor.Hypervisor.Mmu.LogDirty;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor;

/// <summary>The grant-table operations one at a time: the table's frames and entries, what a mapping holds, and what destroying either side releases.</summary>
public class GrantTests
{
    private static readonly ContentHandle Text = ContentHandle.Synthetic(ContentClass.Compressible, 7);

    private static Host Host(bool sharing = false) => new(new MachineMemory(2048, 1), new CostModel(), () => 0,
        new OvercommitOptions { Sharing = new SharingOptions { Enabled = sharing, MaxPageSharing = 100 } });

    [Fact]
    public void A_table_is_hypervisor_frames_holding_v1_entries_and_is_bounded()
    {
        using var hv = Host();
        var a = TestHost.Domain(hv, "a", 16, 32);
        long free = hv.Machine.FreeFrames;
        Assert.Equal(XenErrno.Ok, hv.Grants.SetupTable(a.DomId, 2));
        Assert.Equal(free - 2, hv.Machine.FreeFrames);
        Assert.Equal(2, hv.Grants.TableFrames);
        Assert.Equal(XenErrno.EINVAL, hv.Grants.SetupTable(a.DomId, GrantOps.MaxTableFrames + 1));
        // 512 entries a frame: ref 1023 is the last of two frames, 1024 is past the table.
        Assert.Equal(XenErrno.Ok, hv.Grants.GrantAccess(a.DomId, 1023, 9, 5, readOnly: true));
        Assert.Equal(XenErrno.EINVAL, hv.Grants.GrantAccess(a.DomId, 1024, 9, 5, readOnly: true));
        // The entry is the table frame's word: flags, domid, frame, as grant_entry_v1 lays them out.
        ulong word = hv.Machine.ReadWord(hv.Grants.TableFramesOf(a.DomId)[1], 511);
        Assert.Equal(GrantEntry.PermitAccess | GrantEntry.ReadOnly | (9UL << 16) | (5UL << 32), word);
        Assert.Empty(Auditor.Check(hv));
        uint[] table = [.. hv.Grants.TableFramesOf(a.DomId)];
        Assert.Equal(XenErrno.Ok, hv.DestroyDomain(a.DomId));
        Assert.Equal(0, hv.Grants.TableFrames);
        Assert.All(table, mfn => Assert.True(hv.Machine.Frames[mfn].IsFree));
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void A_mapping_holds_the_frame_until_unmapped_and_the_entry_says_so()
    {
        using var hv = Host();
        var a = TestHost.Domain(hv, "a", 16, 32);
        var b = TestHost.Domain(hv, "b", 16, 32);
        hv.PortFor(a).Touch(new Gfn(3), true, Text);
        uint mfn = a.P2m.Get(3).Mfn;
        Assert.Equal(XenErrno.Ok, hv.Grants.SetupTable(a.DomId, 1));
        Assert.Equal(XenErrno.Ok, hv.Grants.GrantAccess(a.DomId, 0, b.DomId, 3, readOnly: false));
        Assert.Equal(XenErrno.Ok, hv.Grants.Map(b.DomId, a.DomId, 0, 20, readOnly: false, out uint handle));
        Assert.Equal(P2mType.GrantMapRw, b.P2m.Get(20).Type);
        Assert.Equal(mfn, b.P2m.Get(20).Mfn);
        Assert.Equal(1, hv.Machine.Frames[mfn].RefCount);
        Assert.Equal(16, b.TotPages);
        var entry = hv.Grants.EntryOf(a.DomId, 0)!.Value;
        Assert.True(entry.InUse && (entry.Flags & GrantEntry.Writing) != 0);
        // The granter can neither end the grant, balloon the page out nor page it while it is mapped.
        Assert.Equal(XenErrno.EBUSY, hv.Grants.EndAccess(a.DomId, 0));
        Assert.Equal(XenErrno.EBUSY, hv.PortFor(a).DecreaseReservation([3UL], 0));
        Assert.False(hv.Paging.Evict(a, 3));
        // Nor can the grantee give the mapping back as its own page, or have memory put over it.
        Assert.Equal(XenErrno.EINVAL, hv.PortFor(b).DecreaseReservation([20UL], 0));
        Assert.Equal(XenErrno.EEXIST, hv.PortFor(b).Exchange([5UL], 0, [20UL], 0));
        Assert.Equal(XenErrno.EEXIST, hv.PortFor(b).PopulatePhysmap([20UL], 0));
        Assert.Equal(P2mType.GrantMapRw, b.P2m.Get(20).Type);
        Assert.Empty(Auditor.Check(hv));

        Assert.Equal(XenErrno.Ok, hv.Grants.Unmap(b.DomId, handle));
        Assert.Equal(P2mType.Invalid, b.P2m.Get(20).Type);
        Assert.Equal(0, hv.Machine.Frames[mfn].RefCount);
        Assert.False(hv.Grants.EntryOf(a.DomId, 0)!.Value.InUse);
        Assert.Equal(XenErrno.EINVAL, hv.Grants.Unmap(b.DomId, handle));
        Assert.Equal(XenErrno.Ok, hv.PortFor(a).DecreaseReservation([3UL], 0));
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void A_page_in_the_unstable_tree_that_is_mapped_since_is_not_merged()
    {
        using var hv = Host(sharing: true);
        var a = TestHost.Domain(hv, "a", 16, 32);
        var b = TestHost.Domain(hv, "b", 16, 32);
        var c = TestHost.Domain(hv, "c", 16, 32);
        hv.PortFor(a).Touch(new Gfn(3), true, Text);
        hv.PortFor(c).Touch(new Gfn(4), true, Text);
        Assert.False(hv.Sharing.ScanGfn(a, 3));      // a's page waits in the unstable tree
        Assert.Equal(XenErrno.Ok, hv.Grants.SetupTable(a.DomId, 1));
        Assert.Equal(XenErrno.Ok, hv.Grants.GrantAccess(a.DomId, 0, b.DomId, 3, readOnly: true));
        Assert.Equal(XenErrno.Ok, hv.Grants.Map(b.DomId, a.DomId, 0, 20, readOnly: true, out _));
        hv.Sharing.ScanGfn(c, 4);                   // the same bytes: a's page is the candidate
        Assert.Equal(P2mType.Ram, a.P2m.Get(3).Type);
        Assert.Equal(a.DomId, hv.Machine.Frames[a.P2m.Get(3).Mfn].Owner);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void A_transfer_flips_the_frame_with_its_bytes_to_the_receiver_once()
    {
        using var hv = Host();
        var a = TestHost.Domain(hv, "a", 16, 32);
        var b = TestHost.Domain(hv, "b", 16, 32);
        hv.PortFor(a).Touch(new Gfn(3), true, Text);
        uint mfn = a.P2m.Get(3).Mfn;
        Assert.Equal(XenErrno.Ok, hv.Grants.SetupTable(b.DomId, 1));
        // Only the domain the entry names may transfer, and only to an entry that accepts one.
        Assert.Equal(XenErrno.EINVAL, hv.Grants.Transfer(a.DomId, 3, b.DomId, 600));
        Assert.Equal(XenErrno.Ok, hv.Grants.GrantAccess(b.DomId, 0, a.DomId, 1, readOnly: false));
        Assert.Equal(XenErrno.EPERM, hv.Grants.Transfer(a.DomId, 3, b.DomId, 0));
        Assert.Equal(XenErrno.Ok, hv.Grants.AcceptTransfer(b.DomId, 0, a.DomId, 20));
        Assert.Equal(XenErrno.Ok, hv.Grants.Transfer(a.DomId, 3, b.DomId, 0));
        Assert.Equal(P2mType.Invalid, a.P2m.Get(3).Type);
        Assert.Equal(mfn, b.P2m.Get(20).Mfn);
        Assert.Equal(b.DomId, hv.Machine.Frames[mfn].Owner);
        Assert.Equal((15, 17), (a.TotPages, b.TotPages));
        var page = new byte[PageSize.Bytes];
        Assert.True(hv.PortFor(b).ReadPage(new Gfn(20), page));
        Assert.Equal(Bytes(Text), page);
        Assert.Equal(GrantEntry.TransferCompleted, hv.Grants.EntryOf(b.DomId, 0)!.Value.Flags & GrantEntry.TransferCompleted);
        // A completed entry takes no second page.
        hv.PortFor(a).Touch(new Gfn(4), true, Text);
        Assert.Equal(XenErrno.EPERM, hv.Grants.Transfer(a.DomId, 4, b.DomId, 0));
        Assert.Empty(Auditor.Check(hv));
    }

    private static byte[] Bytes(ContentHandle h)
    {
        var page = new byte[PageSize.Bytes];
        new ContentStore().Read(h, page);
        return page;
    }

    [Fact]
    public void Destroying_either_side_releases_the_mappings()
    {
        using var hv = Host();
        var a = TestHost.Domain(hv, "a", 16, 32);
        var b = TestHost.Domain(hv, "b", 16, 32);
        var c = TestHost.Domain(hv, "c", 16, 32);
        Assert.Equal(XenErrno.Ok, hv.Grants.SetupTable(a.DomId, 1));
        Assert.Equal(XenErrno.Ok, hv.Grants.GrantAccess(a.DomId, 0, b.DomId, 3, readOnly: true));
        Assert.Equal(XenErrno.Ok, hv.Grants.GrantAccess(a.DomId, 1, c.DomId, 4, readOnly: true));
        Assert.Equal(XenErrno.Ok, hv.Grants.Map(b.DomId, a.DomId, 0, 20, readOnly: true, out _));
        Assert.Equal(XenErrno.Ok, hv.Grants.Map(c.DomId, a.DomId, 1, 21, readOnly: true, out _));
        // The grantee goes: its mapping is released and a's entry is free again.
        Assert.Equal(XenErrno.Ok, hv.DestroyDomain(b.DomId));
        Assert.False(hv.Grants.EntryOf(a.DomId, 0)!.Value.InUse);
        Assert.Equal(XenErrno.Ok, hv.Grants.EndAccess(a.DomId, 0));
        Assert.Empty(Auditor.Check(hv));
        // The granter goes: c's mapping of its page is removed with it (Xen would keep a as a zombie until c unmaps).
        Assert.Equal(XenErrno.Ok, hv.DestroyDomain(a.DomId));
        Assert.Equal(P2mType.Invalid, c.P2m.Get(21).Type);
        Assert.Equal(0, hv.Grants.Mappings);
        Assert.Equal(AccessOutcome.Refused, hv.PortFor(c).Touch(new Gfn(21), false, ContentHandle.Zero));
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void A_granted_gfn_that_holds_a_third_domain_s_page_reaches_nothing()
    {
        using var hv = Host();
        var a = TestHost.Domain(hv, "a", 16, 32);
        var b = TestHost.Domain(hv, "b", 16, 32);
        var c = TestHost.Domain(hv, "c", 16, 32);
        hv.PortFor(a).Touch(new Gfn(3), true, Text);
        Assert.Equal(XenErrno.Ok, hv.Grants.SetupTable(a.DomId, 1));
        Assert.Equal(XenErrno.Ok, hv.Grants.SetupTable(b.DomId, 1));
        Assert.Equal(XenErrno.Ok, hv.Grants.GrantAccess(a.DomId, 0, b.DomId, 3, readOnly: false));
        Assert.Equal(XenErrno.Ok, hv.Grants.Map(b.DomId, a.DomId, 0, 20, readOnly: false, out _));
        // b grants c the gfn where a's page is mapped: c reaches a's page neither by mapping nor by copying.
        Assert.Equal(XenErrno.Ok, hv.Grants.GrantAccess(b.DomId, 0, c.DomId, 20, readOnly: false));
        long refusals = c.Stats.Refusals;
        Assert.Equal(XenErrno.EPERM, hv.Grants.Map(c.DomId, b.DomId, 0, 25, readOnly: true, out _));
        Assert.Equal(XenErrno.EPERM, hv.Grants.Copy(c.DomId, new GrantCopySide(b.DomId, 0), new GrantCopySide(c.DomId, 5), 0, 8));
        Assert.Equal(XenErrno.EPERM, hv.Grants.Copy(c.DomId, new GrantCopySide(c.DomId, 5), new GrantCopySide(b.DomId, 0), 0, 8));
        Assert.Equal(refusals + 3, c.Stats.Refusals);
        Assert.Equal(P2mType.Invalid, c.P2m.Get(25).Type);
        Assert.Equal(1, hv.Grants.Mappings);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void A_copy_whose_offset_and_length_overflow_is_refused_and_changes_nothing()
    {
        using var hv = Host();
        var a = TestHost.Domain(hv, "a", 16, 32);
        var b = TestHost.Domain(hv, "b", 16, 32);
        hv.PortFor(a).Touch(new Gfn(3), true, Text);
        Assert.Equal(XenErrno.Ok, hv.Grants.SetupTable(a.DomId, 1));
        Assert.Equal(XenErrno.Ok, hv.Grants.GrantAccess(a.DomId, 0, b.DomId, 3, readOnly: false));
        hv.PortFor(b).Touch(new Gfn(4), true, ContentHandle.Zero);
        var from = new GrantCopySide(b.DomId, 4);
        var to = new GrantCopySide(a.DomId, 0);
        foreach (var (offset, length) in new[] { (int.MaxValue, 2), (PageSize.Bytes - 1, 2), (-1, 1), (0, 0), (PageSize.Bytes, 1) })
            Assert.Equal(XenErrno.EINVAL, hv.Grants.Copy(b.DomId, from, to, offset, length));
        // A grant reference past 32 bits is not a reference.
        Assert.Equal(XenErrno.EINVAL, hv.Grants.Copy(b.DomId, new GrantCopySide(a.DomId, 1UL << 32), new GrantCopySide(b.DomId, 4), 0, 8));
        var page = new byte[PageSize.Bytes];
        Assert.True(hv.PortFor(a).ReadPage(new Gfn(3), page));
        Assert.Equal(Bytes(Text), page);
        Assert.Equal(0, hv.Grants.Stats.Copies);
        // The last byte of the page is in bounds.
        Assert.Equal(XenErrno.Ok, hv.Grants.Copy(b.DomId, from, to, PageSize.Bytes - 1, 1));
    }

    [Fact]
    public void A_write_through_a_mapping_dirties_the_granter_s_page_not_the_grantee_s()
    {
        using var hv = Host();
        var a = TestHost.Domain(hv, "a", 16, 32);
        var b = TestHost.Domain(hv, "b", 16, 32);
        hv.PortFor(a).Touch(new Gfn(3), true, Text);
        Assert.Equal(XenErrno.Ok, hv.Grants.SetupTable(a.DomId, 1));
        Assert.Equal(XenErrno.Ok, hv.Grants.GrantAccess(a.DomId, 0, b.DomId, 3, readOnly: false));
        Assert.Equal(XenErrno.Ok, hv.Grants.Map(b.DomId, a.DomId, 0, 20, readOnly: false, out _));
        var dirty = new ulong[64];
        Assert.Equal(XenErrno.Ok, hv.DomCtl.LogDirtyOp(a.DomId, LogDirtyOperation.Enable, dirty, out _));
        Assert.Equal(XenErrno.Ok, hv.DomCtl.LogDirtyOp(b.DomId, LogDirtyOperation.Enable, dirty, out _));
        Assert.NotEqual(AccessOutcome.Refused, hv.PortFor(b).Touch(new Gfn(20), true, ContentHandle.Zero));
        Assert.True(hv.PortFor(b).WriteWord(new Gfn(20), 1, 42));
        Assert.Equal(XenErrno.Ok, hv.DomCtl.LogDirtyOp(a.DomId, LogDirtyOperation.Peek, dirty, out int n));
        Assert.Equal([3UL], dirty[..n]);
        Assert.Equal(XenErrno.Ok, hv.DomCtl.LogDirtyOp(b.DomId, LogDirtyOperation.Peek, dirty, out n));
        Assert.Equal(0, n);
        // A copy into a's granted page dirties it too (the copy writes a's own gfn).
        Assert.Equal(XenErrno.Ok, hv.DomCtl.LogDirtyOp(a.DomId, LogDirtyOperation.Clean, dirty, out _));
        hv.PortFor(b).Touch(new Gfn(4), true, Text);
        Assert.Equal(XenErrno.Ok, hv.Grants.Copy(b.DomId, new GrantCopySide(b.DomId, 4), new GrantCopySide(a.DomId, 0), 0, 16));
        Assert.Equal(XenErrno.Ok, hv.DomCtl.LogDirtyOp(a.DomId, LogDirtyOperation.Peek, dirty, out n));
        Assert.Equal([3UL], dirty[..n]);
    }
}
