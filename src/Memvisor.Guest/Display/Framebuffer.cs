using Memvisor.Guest.Kernel;
using Memvisor.Guest.Memory;
using Memvisor.Seam;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;

namespace Memvisor.Guest.Display;

/// <summary>
/// The guest's display driver (after Linux's xen-fbfront): at boot it sets aside a physically contiguous
/// framebuffer of the guest's own memory and publishes where it is, so that the device model can show it; drawing
/// writes new bytes into its pages.
/// </summary>
public sealed class Framebuffer
{
    private readonly GuestKernel _k;
    private ulong _drawSeq;

    private Framebuffer(GuestKernel k, ulong firstGfn, long pages)
    {
        _k = k;
        FirstGfn = firstGfn;
        Pages = pages;
    }

    public ulong FirstGfn { get; }
    public long Pages { get; }
    /// <summary>Pages drawn (written) since boot.</summary>
    public long PagesDrawn { get; private set; }

    /// <summary>Takes the smallest power-of-two block that holds <paramref name="pages"/> and publishes it; null if the guest has no such block free.</summary>
    internal static Framebuffer? Connect(GuestKernel k, long pages)
    {
        int order = 6;
        while ((1L << order) < pages) order++;
        if (!k.Allocator.TryTakeBlock(order, out ulong first)) return null;
        for (long i = 0; i < 1L << order; i++)
        {
            ulong gfn = first + (ulong)i;
            k.Pages.Assign(gfn, PageUse.Kernel, GuestKernel.KernelSlot, (ulong)i);
            k.Memory.Touch(new Gfn(gfn), write: true, ContentHandle.Zero);
        }
        k.Memory.Store.Write(StoreKeys.FramebufferGfn, (long)first);
        k.Memory.Store.Write(StoreKeys.FramebufferPages, pages);
        return new Framebuffer(k, first, pages);
    }

    /// <summary>Draws page <paramref name="page"/> of the screen: the driver writes its new pixels.</summary>
    public void Draw(long page)
    {
        if ((ulong)page >= (ulong)Pages) return;
        var pixels = ContentHandle.Synthetic(ContentClass.Compressible, Machine.Randomness.DeterministicRandom.Mix(((ulong)_k.Memory.DomId << 48) ^ ++_drawSeq));
        _k.Memory.Touch(new Gfn(FirstGfn + (ulong)page), write: true, pixels);
        PagesDrawn++;
    }
}
