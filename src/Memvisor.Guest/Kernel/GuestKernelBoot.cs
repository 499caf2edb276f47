using Memvisor.Guest.Display;
using Memvisor.Guest.Hotplug;
using Memvisor.Guest.Memory;
using Memvisor.Guest.Mm;
using Memvisor.Guest.Tmem;
using Memvisor.Seam;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;

namespace Memvisor.Guest.Kernel;

// Boot: the memory map, the kernel's own tables and text, its drivers and libraries.
public sealed partial class GuestKernel
{
    /// <summary>Boots: learns its memory map (gfns below the initial target), sets its watermarks, builds its page tables, maps its kernel text (with 2 MiB pages where the MMU allows them), loads them and opens its libraries.</summary>
    public void Boot()
    {
        long initial = Math.Min(Options.BootPages ?? Memory.Store.ReadLong(StoreKeys.Target, PageSize.ToKiB(Pages.Length)) / PageSize.KiB, Pages.Length);
        for (long gfn = 0; gfn < initial; gfn++) Allocator.AddHeld((ulong)gfn);
        if (Options.LocalNodePages is long local)
        {
            Allocator.SetLocalNode(local);
            if (Options.Tiering) Tiering = new Tiering.GuestTiering(this);
        }
        Allocator.SetWatermarks();
        if (Options.Image is { } memoryImage) ImageFill = Images.ImageFill.Fill(this, memoryImage, initial);
        var (ok, root) = NewTable(null);
        if (!ok) return;
        KernelRoot = root;
        Booted = true;
        // A real image brings its own kernel: no modeled kernel text beside it.
        long blocks = Options.Image is null ? Math.Min(Options.KernelTextPages, initial / 4) / 512 : 0;
        for (uint b = 0; b < blocks; b++)
        {
            if (!Allocator.TryTakeBlock(9, out ulong first)) break;
            for (uint i = 0; i < 512; i++)
            {
                Pages.Assign(first + i, PageUse.Kernel, KernelSlot, i);
                Memory.Touch(new Gfn(first + i), write: true, ContentHandle.ImagePage(ContentClass.KernelText, Options.ImageId, b * 512 + i));
            }
            if (!MapKernelText(KernelTextVpn + b * 512, first)) break;
        }
        if (!Mmu.PinTopLevel(KernelRoot) || !Mmu.SwitchAddressSpace(KernelRoot, KernelSlot))
        {
            Booted = false;
            return;
        }
        if (Options.VideoRamPages > 0) Framebuffer = Framebuffer.Connect(this, Options.VideoRamPages);
        Balloon.Connect();
        if (Options.Hotplug.Enabled)
        {
            Hotplug = new HotplugDriver(this, _onDemand, initial);
            Hotplug.Connect();
        }
        if (Options.Tmem)
        {
            int ephemeral = Memory.TmemNewPool(persistent: false), persistent = Memory.TmemNewPool(persistent: true);
            if (ephemeral >= 0) Cleancache = new Cleancache(this, ephemeral);
            if (persistent >= 0) Swap.AttachFrontswap(Memory, persistent);
        }
        for (int i = 0; i < Libraries.Length; i++)
        {
            uint lib = (uint)i + 1;
            uint image = Options.ImageId;
            CreateFile(Libraries[i].Name, Libraries[i].Pages, index => ContentHandle.ImagePage(ContentClass.SharedLibrary, image, (lib << 24) | (uint)index));
        }
    }

    // 512 pages of kernel text at vpn: one 2 MiB page, or (under PV, which has no superpages) a page table of 4 KiB pages.
    private bool MapKernelText(ulong vpn, ulong first)
    {
        const ulong flags = Pte.Present | Pte.Writable | Pte.Accessed | Pte.Dirty;
        bool large = Mmu.LargePages;
        if (!Tables.TryEnsureTable(KernelRoot, vpn, large ? 2 : 1, _newKernelTable, out ulong table)) return false;
        if (large) Tables.Write(table, Pte.IndexAt(vpn, 2), Pte.Make(first, flags | Pte.Huge));
        else
            for (int i = 0; i < 512; i++) Tables.Write(table, i, Pte.Make(first + (ulong)i, flags));
        return true;
    }
}
