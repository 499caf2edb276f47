using Memvisor.Machine.Frames;
namespace Memvisor.Seam;

/// <summary>
/// x86-64 4-level paging entry bits (Intel SDM vol. 3, section 4.5), shared by the guest's tables, the hypervisor's
/// shadows and the PV validator. The address field holds a gfn in HVM guests' tables and an mfn in PV guests'.
/// </summary>
public static class X86Pte
{
    public const ulong Present = 1UL << 0;
    public const ulong Writable = 1UL << 1;
    public const ulong User = 1UL << 2;
    public const ulong Accessed = 1UL << 5;
    public const ulong Dirty = 1UL << 6;
    /// <summary>PS: in a page-directory entry, maps a 2 MiB page.</summary>
    public const ulong Huge = 1UL << 7;
    public const ulong NoExecute = 1UL << 63;
    /// <summary>
    /// A software-available bit (62) Xen sets in the PTE a PV grant mapping wrote (_PAGE_GNTTAB, flag bit 22 of
    /// xen/arch/x86/include/asm/x86_64/page.h); a guest may not set it itself (mm.c's L1_DISALLOW_MASK).
    /// </summary>
    public const ulong GrantMapped = 1UL << 62;
    public const ulong AddressMask = 0x000F_FFFF_FFFF_F000UL;
    /// <summary>Bits that say what an entry may do, besides where it points.</summary>
    public const ulong PermissionMask = Present | Writable | User | NoExecute;
    public const int Levels = 4;
    /// <summary>Bits of a virtual page number: 48-bit virtual addresses less the page offset.</summary>
    public const int VirtualPageBits = 48 - PageSize.Shift;

    public static ulong Frame(ulong entry) => (entry & AddressMask) >> PageSize.Shift;
    public static ulong Make(ulong frame, ulong flags) => (frame << PageSize.Shift) | flags;
    public static bool IsPresent(ulong entry) => (entry & Present) != 0;
    /// <summary>True if the entry at <paramref name="level"/> maps a page rather than a lower table.</summary>
    public static bool IsLeaf(ulong entry, int level) => level == 1 || (level == 2 && (entry & Huge) != 0);
    /// <summary>The index into the table at <paramref name="level"/> (4 = PML4 .. 1 = PT) for virtual page <paramref name="vpn"/>.</summary>
    public static int IndexAt(ulong vpn, int level) => (int)((vpn >> (9 * (level - 1))) & 511);
}
