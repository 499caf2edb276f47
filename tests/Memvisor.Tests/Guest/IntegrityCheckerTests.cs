using Memvisor.Hypervisor.P2m;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Tests.Integration;

namespace Memvisor.Tests.Guest;

/// <summary>
/// The integrity checker compares content handles where both sides are synthetic and bytes otherwise: a frame that
/// holds the written bytes under another name passes, one that holds other bytes under any name fails, whichever way
/// the check ran.
/// </summary>
public class IntegrityCheckerTests
{
    // A guest whose process has written 64 pages, and the frames that hold them.
    private static (Memvisor.Hypervisor.Host Hv, Memvisor.Guest.Kernel.GuestKernel K, List<uint> Written) Written()
    {
        var (hv, k) = GuestOnHost.Boot(2048, 0);
        var p = k.Spawn("writer")!;
        ulong at = k.MapAnonymous(p, 64);
        for (ulong i = 0; i < 64; i++) Assert.True(k.Access(p, at + (i << 12), write: true));
        var domain = hv.Domains.Single(d => d.Name == "g");
        var written = new List<uint>();
        for (ulong i = 0; i < 64; i++)
        {
            ulong e = k.Tables.Walk(p.Root, (at >> 12) + i, out _, out _, out _);
            written.Add(domain.P2m.Get(Memvisor.Guest.Mm.Pte.Frame(e)).Mfn);
        }
        Assert.All(written, m => Assert.True(hv.Machine.Frames[m].Content.IsSynthetic));
        return (hv, k, written);
    }

    [Fact]
    public void Untouched_pages_pass_by_handle()
    {
        var (_, k, _) = Written();
        long checks = k.Integrity!.Checks;
        Assert.Equal(0, k.Integrity.VerifyAll());
        Assert.True(k.Integrity.Checks >= checks + 64);
    }

    [Fact]
    public void A_frame_renamed_to_another_synthetic_page_fails()
    {
        var (hv, k, written) = Written();
        foreach (uint m in written.Take(5))
        {
            var c = hv.Machine.Frames[m].Content;
            hv.Machine.SetContent(m, ContentHandle.Synthetic(c.SyntheticClass, c.Seed + 1));
        }
        Assert.Equal(5, k.Integrity!.VerifyAll());
        Assert.Contains("does not hold the bytes last written to it", k.Integrity.Messages[0]);
    }

    [Fact]
    public void A_frame_holding_the_same_bytes_as_stored_bytes_passes_and_one_byte_changed_fails()
    {
        var (hv, k, written) = Written();
        var page = new byte[PageSize.Bytes];
        for (int i = 0; i < 8; i++)
        {
            uint m = written[i];
            hv.Machine.Contents.View(hv.Machine.Frames[m].Content, page).CopyTo(page);
            if (i % 2 == 1) page[123] ^= 0x5A;
            hv.Machine.WriteFrame(m, page);
            Assert.True(hv.Machine.Frames[m].Content.IsStored);
        }
        Assert.Equal(4, k.Integrity!.VerifyAll());
    }
}
