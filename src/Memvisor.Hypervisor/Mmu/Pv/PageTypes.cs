using Memvisor.Hypervisor.Errors;
using Memvisor.Machine;
using Memvisor.Machine.Frames;
using Memvisor.Seam;

namespace Memvisor.Hypervisor.Mmu.Pv;

/// <summary>
/// Xen's page types and their counts (xen/arch/x86/mm.c get_page_type / put_page_type): a frame is at one time a
/// writable page, or an L1, L2, L3 or L4 page table; it takes a type when its type count goes from 0 to 1 and, for a
/// table, only after every present entry in it validates (recursively, each lower table taking its own type), so
/// that a frame can never be a page table and writable-mapped at once. An entry may point only to a frame its
/// domain owns; the hypervisor's slots at the top of every address space are the hypervisor's alone. One operation
/// validates at most <c>validateLimit</c> entries (where Xen would preempt the hypercall), which also bounds a
/// table that reaches itself.
/// </summary>
public sealed class PageTypes(MachineMemory machine, ushort domId, long validateLimit = 1 << 20)
{
    /// <summary>Called with a frame that became a page table or stopped being one (Xen's alloc_page_type and free_page_type mark it dirty: a migration must resend it as what it is now).</summary>
    public Action<uint>? TableTypeChanged { get; init; }

    /// <summary>PML4 slots 256..271 hold the hypervisor in every PV address space (Xen's HYPERVISOR_VIRT_START to _END on x86-64).</summary>
    public const int HypervisorFirstSlot = 256;
    public const int HypervisorLastSlot = 271;
    /// <summary>The slot whose entry maps the m2p read-only for the guest (Xen's RO_MPT_VIRT_START).</summary>
    public const int M2pSlot = 256;

    /// <summary>Entries validated (each costs the cost model's pv_validate_entry_ns).</summary>
    public long EntriesValidated;
    private long _operationStart;

    /// <summary>Starts one update or command: its validation has the whole limit to itself.</summary>
    public void BeginOperation() => _operationStart = EntriesValidated;

    private static PageType TableType(int level) => (PageType)((int)PageType.L1 + level - 1);

    public static bool IsTable(PageType t) => t is PageType.L1 or PageType.L2 or PageType.L3 or PageType.L4;

    public static int LevelOf(PageType t) => (int)t - (int)PageType.L1 + 1;

    public bool Owns(uint mfn) => mfn < machine.TotalFrames && !machine.Frames[mfn].IsFree && machine.Frames[mfn].Owner == domId;

    /// <summary>Takes a type reference on a frame (validating it if it takes the type now); the errno if it cannot.</summary>
    public XenErrno GetType(uint mfn, PageType type)
    {
        if (!Owns(mfn)) return XenErrno.EPERM;
        ref var f = ref machine.Frames[mfn];
        if (f.TypeCount > 0)
        {
            if (f.Type != type) return XenErrno.EBUSY;
            if (f.TypeCount == ushort.MaxValue) return XenErrno.E2BIG;
            f.TypeCount++;
            return XenErrno.Ok;
        }
        if (IsTable(type))
        {
            // Validation runs before the type is set: a table that (through its children) reached itself would be refused.
            f.Type = type;
            f.TypeCount = 1;
            var err = Validate(mfn, LevelOf(type));
            if (err != XenErrno.Ok)
            {
                ref var again = ref machine.Frames[mfn];
                again.Type = PageType.None;
                again.TypeCount = 0;
                return err;
            }
            TableTypeChanged?.Invoke(mfn);
            return XenErrno.Ok;
        }
        f.Type = type;
        f.TypeCount = 1;
        return XenErrno.Ok;
    }

    /// <summary>
    /// Takes a writable type reference on a frame for a holder outside the domain's own tables: a writable grant
    /// mapping of a PV granter's page (common/grant_table.c map_grant_ref, get_page_type(PGT_writable_page)), so that
    /// the granted frame cannot be a page table while another domain may write it. EBUSY if it is one now.
    /// </summary>
    public static XenErrno TakeWritable(ref FrameInfo f)
    {
        if (f.TypeCount > 0 && f.Type != PageType.Writable) return XenErrno.EBUSY;
        if (f.TypeCount == ushort.MaxValue) return XenErrno.E2BIG;
        f.Type = PageType.Writable;
        f.TypeCount++;
        return XenErrno.Ok;
    }

    /// <summary>Drops what <see cref="TakeWritable"/> took.</summary>
    public static void DropWritable(ref FrameInfo f)
    {
        if (f.TypeCount > 0 && --f.TypeCount == 0) f.Type = PageType.None;
    }

    /// <summary>Drops a type reference; a table whose count reaches 0 drops the references its entries held.</summary>
    public void PutType(uint mfn)
    {
        ref var f = ref machine.Frames[mfn];
        if (f.TypeCount == 0) return;
        if (--f.TypeCount > 0) return;
        var type = f.Type;
        f.Type = PageType.None;
        if (IsTable(type)) TableTypeChanged?.Invoke(mfn);
        if (IsTable(type))
        {
            int level = LevelOf(type);
            for (int i = 0; i < 512; i++)
            {
                if (level == 4 && i >= HypervisorFirstSlot && i <= HypervisorLastSlot) continue;
                ulong e = machine.ReadWord(mfn, i);
                if (X86Pte.IsPresent(e)) PutEntry(level, e);
            }
        }
    }

    private XenErrno Validate(uint mfn, int level)
    {
        for (int i = 0; i < 512; i++)
        {
            ulong e = machine.ReadWord(mfn, i);
            if (level == 4 && i >= HypervisorFirstSlot && i <= HypervisorLastSlot)
            {
                if (e != 0 && e != HypervisorEntry(i)) return Undo(mfn, level, i, XenErrno.EPERM);
                continue;
            }
            if (!X86Pte.IsPresent(e)) continue;
            var err = GetEntry(level, e);
            if (err != XenErrno.Ok) return Undo(mfn, level, i, err);
        }
        if (level == 4)
            for (int i = HypervisorFirstSlot; i <= HypervisorLastSlot; i++) machine.WriteWord(mfn, i, HypervisorEntry(i));
        return XenErrno.Ok;
    }

    // Drops what entries [0, upTo) of a table being validated took.
    private XenErrno Undo(uint mfn, int level, int upTo, XenErrno err)
    {
        for (int i = 0; i < upTo; i++)
        {
            if (level == 4 && i >= HypervisorFirstSlot) break;
            ulong e = machine.ReadWord(mfn, i);
            if (X86Pte.IsPresent(e)) PutEntry(level, e);
        }
        return err;
    }

    /// <summary>Takes what one present entry of a table at <paramref name="level"/> needs: a reference on its frame, and its type.</summary>
    public XenErrno GetEntry(int level, ulong e)
    {
        EntriesValidated++;
        if (EntriesValidated - _operationStart > validateLimit) return XenErrno.E2BIG;
        ulong frame = X86Pte.Frame(e);
        if (frame >= (ulong)machine.TotalFrames) return XenErrno.EINVAL;
        uint mfn = (uint)frame;
        if (level == 2 && (e & X86Pte.Huge) != 0) return XenErrno.EINVAL; // PV guests get no superpages
        if ((e & X86Pte.GrantMapped) != 0) return XenErrno.EINVAL; // only a grant mapping writes that bit (L1_DISALLOW_MASK)
        if (!Owns(mfn)) return XenErrno.EPERM;
        if (level == 1)
        {
            if ((e & X86Pte.Writable) != 0)
            {
                var err = GetType(mfn, PageType.Writable);
                if (err != XenErrno.Ok) return err;
            }
            machine.Frames[mfn].RefCount++;
            return XenErrno.Ok;
        }
        var typed = GetType(mfn, TableType(level - 1));
        if (typed == XenErrno.Ok) machine.Frames[mfn].RefCount++;
        return typed;
    }

    public void PutEntry(int level, ulong e)
    {
        // A grant mapping's entry took nothing of the domain's: the mapping holds its frame's reference.
        if (level == 1 && (e & X86Pte.GrantMapped) != 0) return;
        uint mfn = (uint)X86Pte.Frame(e);
        // Only a frame of the domain's own was taken by an entry (GetEntry); anything else in a table took nothing.
        if (!Owns(mfn)) return;
        ref var f = ref machine.Frames[mfn];
        if (f.RefCount > 0) f.RefCount--;
        if (level > 1 || (e & X86Pte.Writable) != 0) PutType(mfn);
    }

    /// <summary>The hypervisor's own entry in slot <paramref name="slot"/> of every L4: the m2p read-only and user-visible, the rest supervisor-only.</summary>
    public ulong HypervisorEntry(int slot)
    {
        // The entries name frames beyond the machine's RAM, as the hypervisor's own mappings: a guest walk never follows them.
        ulong frame = (ulong)machine.TotalFrames + (ulong)(slot - HypervisorFirstSlot);
        return X86Pte.Make(frame, X86Pte.Present | (slot == M2pSlot ? X86Pte.User : X86Pte.Writable));
    }
}
