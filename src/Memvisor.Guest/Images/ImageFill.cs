using Memvisor.Seam;
using Memvisor.Guest.Kernel;
using Memvisor.Guest.Memory;
using Memvisor.Machine.Frames;

namespace Memvisor.Guest.Images;

/// <summary>What filling a guest from its image did: pages written with the image's bytes, the image's zero pages (left free), and pages the guest could not take (past its memory, or refused by the hypervisor).</summary>
public sealed record ImageFillStats(string Path, long Loaded, long ZeroPages, long OutsideMemory);

/// <summary>
/// Boots a guest on a real guest's memory, as a VM restored from a memory-only dump resumes with its pages: each
/// non-zero page of the image is written, bytes and all, to the same gfn and kept by the kernel; the image's zero
/// pages stay free for the workload (in a real guest they are mostly memory never touched); pages the guest's
/// memory does not reach (firmware ROM above 4 GiB's hole, a larger guest's memory) are skipped and counted.
/// Sharing, compression and paging then act on the real bytes, and the workload runs in what is left.
/// </summary>
internal static class ImageFill
{
    public static ImageFillStats Fill(GuestKernel kernel, MemoryImageSpec spec, long initialPages)
    {
        using var image = ImageFile.Open(spec.Path, spec.Format);
        var page = new byte[PageSize.Bytes];
        long loaded = 0, zero = 0, outside = 0;
        while (image.TryReadNext(out ulong gfn, page))
        {
            if (gfn >= (ulong)initialPages)
            {
                outside++;
                continue;
            }
            if (PageBytes.IsZero(page))
            {
                zero++;
                continue;
            }
            if (!kernel.Allocator.TryTakeSpecific(gfn))
            {
                outside++;   // the gfn is not the guest's to fill (never held)
                continue;
            }
            if (!kernel.Memory.WritePage(new Gfn(gfn), page))
            {
                kernel.Allocator.Give(gfn);   // the hypervisor refused the page (out of memory): it stays free and unwritten
                outside++;
                continue;
            }
            kernel.Pages.Assign(gfn, PageUse.Kernel, GuestKernel.KernelSlot, gfn);
            loaded++;
        }
        return new ImageFillStats(spec.Path, loaded, zero, outside);
    }
}
