using Memvisor.Seam;

namespace Memvisor.Guest.Mm;

/// <summary>
/// The hardware entry bits (<see cref="X86Pte"/>) under the guest's names, and the swap-entry encoding this guest uses in
/// non-present entries: software bit 9 set, slot in the address bits, as Linux keeps a swap entry in a cleared PTE.
/// </summary>
public static class Pte
{
    public const ulong Present = X86Pte.Present;
    public const ulong Writable = X86Pte.Writable;
    public const ulong User = X86Pte.User;
    public const ulong Accessed = X86Pte.Accessed;
    public const ulong Dirty = X86Pte.Dirty;
    /// <summary>PS: in a page-directory entry, maps a 2 MiB page.</summary>
    public const ulong Huge = X86Pte.Huge;
    /// <summary>Software-available bit 9: this non-present entry holds a swap slot.</summary>
    public const ulong SwapEntry = 1UL << 9;
    /// <summary>Bit 11 of a non-present entry: a page in transition (Windows' memory manager marks a page being brought in so).</summary>
    public const ulong Transition = 1UL << 11;
    public const ulong NoExecute = X86Pte.NoExecute;
    public const ulong AddressMask = X86Pte.AddressMask;

    /// <summary>Entries that point to a lower-level table.</summary>
    public const ulong TableFlags = Present | Writable | User | Accessed;

    public static ulong Frame(ulong entry) => X86Pte.Frame(entry);
    public static ulong Make(ulong gfn, ulong flags) => X86Pte.Make(gfn, flags);
    public static bool IsPresent(ulong entry) => X86Pte.IsPresent(entry);
    public static bool IsSwap(ulong entry) => (entry & (Present | SwapEntry)) == SwapEntry;
    public static uint SwapSlot(ulong entry) => (uint)Frame(entry);
    public static ulong ForSwap(uint slot) => Make(slot, SwapEntry);
    public static ulong ForTransition(ulong gfn) => Make(gfn, Transition);

    /// <summary>The index into the table at <paramref name="level"/> (4 = PML4 .. 1 = PT) for virtual page <paramref name="vpn"/>.</summary>
    public static int IndexAt(ulong vpn, int level) => X86Pte.IndexAt(vpn, level);
}
