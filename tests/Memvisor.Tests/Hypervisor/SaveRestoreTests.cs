using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Save;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Seam;
using Memvisor.Tests.Hypervisor.Mmu;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor;

/// <summary>xl save and xl restore one case at a time: what the image holds, what a bad image or a short heap leaves alone, and what the restored domain takes over.</summary>
public class SaveRestoreTests
{
    private static readonly ContentHandle Text = ContentHandle.Synthetic(ContentClass.Compressible, 7);

    private static Host Host(long frames = 2048) => new(new MachineMemory(frames, 1), new CostModel(), () => 0,
        new OvercommitOptions { Sharing = new SharingOptions { Enabled = true, MaxPageSharing = 100 } });

    [Fact]
    public void The_image_keeps_zeros_and_synthetic_pages_small_and_a_shared_frame_once()
    {
        using var hv = Host();
        var a = TestHost.Domain(hv, "a", 64, 64);
        var port = hv.PortFor(a);
        for (ulong g = 0; g < 10; g++) port.Touch(new Gfn(g), true, ContentHandle.Synthetic(ContentClass.Compressible, 100 + g));
        port.Touch(new Gfn(20), true, Text);
        port.Touch(new Gfn(21), true, Text);
        hv.Sharing.ScanGfn(a, 20);
        hv.Sharing.ScanGfn(a, 21);
        Assert.Equal(1, hv.Sharing.Stats.PagesShared);
        var bytes = new byte[PageSize.Bytes];
        bytes[5] = 9;
        Assert.True(port.WritePage(new Gfn(30), bytes));
        Assert.Equal(XenErrno.Ok, port.DecreaseReservation([40UL], 0));
        using var image = new MemoryStream();
        Assert.Equal(XenErrno.Ok, hv.SaveDomain(a.DomId, image, out var saved, out var stats));
        // 63 pages: 11 synthetic (one of the shared pair), 1 duplicate, 1 of real bytes, the other 50 zeros.
        Assert.Equal((63, 11, 1, 1, 50), (stats.Pages, stats.HandlePages, stats.DuplicatePages, stats.BytePages, stats.ZeroPages));
        Assert.Equal(image.Length, stats.FileBytes);
        // Each record is its gfn and kind (9 bytes) and its payload: 8 for a handle or duplicate, 4 KiB for bytes.
        Assert.InRange(stats.FileBytes - (63 * 9 + 12 * 8 + PageSize.Bytes), 0, 100);
        Assert.Equal(XenErrno.Ok, hv.RestoreDomain(saved!, image, out var b, out _));
        Assert.Equal(P2mType.Invalid, b!.P2m.Get(40).Type);
        Assert.True(port.ReadPage(new Gfn(30), bytes));
        Assert.Equal(9, bytes[5]);
        // The pages shared before are each the domain's own now.
        Assert.Equal(P2mType.Ram, b.P2m.Get(21).Type);
        Assert.NotEqual(b.P2m.Get(20).Mfn, b.P2m.Get(21).Mfn);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void A_bad_image_is_refused_and_changes_nothing()
    {
        using var hv = Host();
        var a = TestHost.Domain(hv, "a", 32, 32);
        hv.PortFor(a).Touch(new Gfn(3), true, Text);
        using var image = new MemoryStream();
        Assert.Equal(XenErrno.Ok, hv.SaveDomain(a.DomId, image, out var saved, out _));
        byte[] good = image.ToArray();
        var other = TestHost.Domain(hv, "other", 8, 8);
        Assert.Equal(XenErrno.Ok, hv.SaveDomain(other.DomId, new MemoryStream(), out var otherSaved, out _));
        string before = TestHost.Fingerprint(hv);
        foreach (var bad in BadImages(good))
        {
            Assert.Equal(XenErrno.EINVAL, hv.RestoreDomain(saved!, new MemoryStream(bad), out var none, out _));
            Assert.Null(none);
            Assert.Equal(before, TestHost.Fingerprint(hv));
        }
        // An image of another domain is not this one's.
        Assert.Equal(XenErrno.EINVAL, hv.RestoreDomain(otherSaved!, new MemoryStream(good), out _, out _));
        Assert.Equal(XenErrno.Ok, hv.RestoreDomain(saved!, new MemoryStream(good), out _, out _));
    }

    private static IEnumerable<byte[]> BadImages(byte[] good)
    {
        yield return [];
        yield return good[..^1];                                   // truncated
        yield return [.. good, 0];                                 // something after the end
        var flipped = (byte[])good.Clone();
        flipped[good.Length / 2] ^= 1;                             // one bit changed
        yield return flipped;
        var magic = (byte[])good.Clone();
        magic[0] = (byte)'X';                                      // not an image
        yield return magic;
    }

    [Fact]
    public void A_restore_the_heap_cannot_hold_is_refused_and_succeeds_once_memory_is_free()
    {
        using var hv = Host(frames: 600);
        var a = TestHost.Domain(hv, "a", 256, 256);
        hv.PortFor(a).Touch(new Gfn(3), true, Text);
        using var image = new MemoryStream();
        Assert.Equal(XenErrno.Ok, hv.SaveDomain(a.DomId, image, out var saved, out _));
        var filler = TestHost.Domain(hv, "filler", 256, 256);
        string before = TestHost.Fingerprint(hv);
        Assert.Equal(XenErrno.ENOMEM, hv.RestoreDomain(saved!, image, out _, out _));
        Assert.Equal(before, TestHost.Fingerprint(hv));
        Assert.Equal(XenErrno.Ok, hv.DestroyDomain(filler.DomId));
        Assert.Equal(XenErrno.Ok, hv.RestoreDomain(saved!, image, out var b, out _));
        Assert.Equal(256, b!.TotPages);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void Dom0_and_a_domain_that_is_not_there_are_not_saved()
    {
        var hv = TestHost.Create();
        Assert.Equal(XenErrno.Ok, hv.CreateDomain(new global::Memvisor.Hypervisor.Domains.DomainConfig { Name = "dom0", MemoryPages = 64, MaxPages = 64, IsDom0 = true }, out var dom0));
        using var image = new MemoryStream();
        Assert.Equal(XenErrno.EPERM, hv.SaveDomain(dom0!.DomId, image, out var saved, out _));
        Assert.Null(saved);
        Assert.Same(dom0, hv.Find(dom0.DomId));
        Assert.Equal(XenErrno.ESRCH, hv.SaveDomain(999, image, out _, out _));
        Assert.Equal(0, image.Length);
    }

    [Fact]
    public void The_restored_domain_keeps_the_guest_s_store_keys_and_watches_under_its_new_domid()
    {
        using var hv = Host();
        var a = TestHost.Domain(hv, "a", 32, 32);
        var port = hv.PortFor(a);
        Assert.True(port.Store.Write(StoreKeys.FramebufferGfn, 12));
        port.Store.Watch(StoreKeys.Target);
        while (port.Store.TryTakeEvent(out _)) { }
        using var image = new MemoryStream();
        Assert.Equal(XenErrno.Ok, hv.SaveDomain(a.DomId, image, out var saved, out _));
        Assert.Equal(XenErrno.Ok, hv.RestoreDomain(saved!, image, out var b, out _));
        Assert.Equal(12, port.Store.ReadLong(StoreKeys.FramebufferGfn, -1));
        Assert.Equal(12, hv.Store.ReadLong(global::Memvisor.Hypervisor.Host.StorePath(b!, StoreKeys.FramebufferGfn), -1));
        Assert.Equal(b!.DomId, port.DomId);
        // The watch came back (it fires once when registered, as xenstored's do) and fires on a new target.
        while (port.Store.TryTakeEvent(out _)) { }
        Assert.Equal(XenErrno.Ok, hv.DomCtl.SetTarget(b!.DomId, 20));
        Assert.True(port.Store.TryTakeEvent(out string key));
        Assert.Equal(StoreKeys.Target, key);
    }

    [Theory]
    [InlineData(MmuMode.Hap)]
    [InlineData(MmuMode.Shadow2)]
    [InlineData(MmuMode.Shadow3)]
    [InlineData(MmuMode.Pv)]
    public void The_guest_s_page_tables_translate_as_before_in_the_restored_domain(MmuMode mode)
    {
        var g = new MmuTestGuest(mode, pages: 512);
        ulong root = g.NewTable();
        for (ulong i = 0; i < 20; i++) g.Map(root, 0x4000 + i, g.FirstDataGfn + i);
        Assert.True(g.Mmu.SwitchAddressSpace(root, 1));
        Assert.Equal(TranslateStatus.Ok, g.Mmu.Translate(new Vpn(0x4005), write: false).Status);
        using var image = new MemoryStream();
        Assert.Equal(XenErrno.Ok, g.Hv.SaveDomain(g.Domain.DomId, image, out var saved, out _));
        Assert.Equal(XenErrno.Ok, g.Hv.RestoreDomain(saved!, image, out var restored, out _));
        Assert.Same(g.Mmu, restored!.Mmu);
        for (ulong i = 0; i < 20; i++)
        {
            var t = g.Mmu.Translate(new Vpn(0x4000 + i), write: true);
            Assert.Equal(TranslateStatus.Ok, t.Status);
            Assert.Equal(g.FirstDataGfn + i, t.Gfn.Value);
        }
        Assert.Equal(TranslateStatus.PageFault, g.Mmu.Translate(new Vpn(0x9000), write: false).Status);
        Assert.Empty(Auditor.Check(g.Hv));
    }

    [Fact]
    public void A_shared_page_restored_keeps_its_bytes_when_the_page_it_was_shared_with_is_rewritten()
    {
        using var hv = Host();
        var a = TestHost.Domain(hv, "a", 32, 32);
        var port = hv.PortFor(a);
        var bytes = new byte[PageSize.Bytes];
        bytes[7] = 7;
        Assert.True(port.WritePage(new Gfn(1), bytes));
        Assert.True(port.WritePage(new Gfn(2), bytes));
        hv.Sharing.ScanGfn(a, 1);
        hv.Sharing.ScanGfn(a, 2);
        Assert.Equal(P2mType.Shared, a.P2m.Get(2).Type);
        using var image = new MemoryStream();
        Assert.Equal(XenErrno.Ok, hv.SaveDomain(a.DomId, image, out var saved, out var stats));
        Assert.Equal(1, stats.DuplicatePages);
        Assert.Equal(XenErrno.Ok, hv.RestoreDomain(saved!, image, out _, out _));
        // The two restored frames hold one stored content between them: rewriting one must not change the other.
        var other = new byte[PageSize.Bytes];
        other[9] = 9;
        Assert.True(port.WritePage(new Gfn(1), other));
        Assert.True(port.WritePage(new Gfn(5), other));
        var page = new byte[PageSize.Bytes];
        Assert.True(port.ReadPage(new Gfn(2), page));
        Assert.Equal(bytes, page);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void A_domain_is_restored_once_from_its_save_and_keeps_the_paging_target_in_effect()
    {
        using var hv = new Host(new MachineMemory(2048, 1), new CostModel(), () => 0,
            new OvercommitOptions { Paging = new global::Memvisor.Hypervisor.Paging.PagingOptions { SwapPages = 256, Configured = true } });
        var a = TestHost.Domain(hv, "a", 64, 64);
        Assert.Equal(XenErrno.Ok, hv.DomCtl.SetPagingTarget(a.DomId, 40));
        using var image = new MemoryStream();
        Assert.Equal(XenErrno.Ok, hv.SaveDomain(a.DomId, image, out var saved, out _));
        Assert.Equal(XenErrno.Ok, hv.RestoreDomain(saved!, image, out var b, out _));
        Assert.Equal(40, b!.Paging.TargetPages);
        // The guest's port and vCPU are b's now: a second restore from the same save would take them from it.
        Assert.Equal(XenErrno.EINVAL, hv.RestoreDomain(saved!, image, out var again, out _));
        Assert.Null(again);
        Assert.Same(b, hv.Find(b.DomId));
    }

    [Fact]
    public void A_domain_whose_name_no_image_holds_is_not_saved_and_keeps_running()
    {
        using var hv = Host();
        var a = TestHost.Domain(hv, new string('n', 5000), 16, 16);
        using var image = new MemoryStream();
        Assert.Equal(XenErrno.EINVAL, hv.SaveDomain(a.DomId, image, out var saved, out _));
        Assert.Null(saved);
        Assert.Same(a, hv.Find(a.DomId));
        Assert.Equal(0, image.Length);
    }
}
