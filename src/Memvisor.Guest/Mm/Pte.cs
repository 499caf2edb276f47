namespace Memvisor.Guest.Mm;

/// <summary>
/// x86-64 page-table entry bits (Intel SDM vol. 3, 4-level paging) and the swap-entry encoding this guest uses in
/// non-present entries: software bit 9 set, slot in the address bits, as Linux keeps a swap entry in a cleared PTE.
/// </summary>
public static class Pte
{
    public const ulong Present = 1UL << 0;
    public const ulong Writable = 1UL << 1;
    public const ulong User = 1UL << 2;
    public const ulong Accessed = 1UL << 5;
    public const ulong Dirty = 1UL << 6;
    /// <summary>PS: in a page-directory entry, maps a 2 MiB page.</summary>
    public const ulong Huge = 1UL << 7;
    /// <summary>Software-available bit 9: this non-present entry holds a swap slot.</summary>
    public const ulong SwapEntry = 1UL << 9;
    public const ulong NoExecute = 1UL << 63;
    public const ulong AddressMask = 0x000F_FFFF_FFFF_F000UL;

    /// <summary>Entries that point to a lower-level table.</summary>
    public const ulong TableFlags = Present | Writable | User | Accessed;

    public static ulong Frame(ulong entry) => (entry & AddressMask) >> 12;
    public static ulong Make(ulong gfn, ulong flags) => (gfn << 12) | flags;
    public static bool IsPresent(ulong entry) => (entry & Present) != 0;
    public static bool IsSwap(ulong entry) => (entry & (Present | SwapEntry)) == SwapEntry;
    public static uint SwapSlot(ulong entry) => (uint)Frame(entry);
    public static ulong ForSwap(uint slot) => Make(slot, SwapEntry);

    /// <summary>The index into the table at <paramref name="level"/> (4 = PML4 .. 1 = PT) for virtual page <paramref name="vpn"/>.</summary>
    public static int IndexAt(ulong vpn, int level) => (int)((vpn >> (9 * (level - 1))) & 511);
}
