namespace Memvisor.Hypervisor.Mmu.Pv;

/// <summary>One request of the mmu_update hypercall (MMU_NORMAL_PT_UPDATE): write <paramref name="Value"/> into entry <paramref name="Index"/> of the table in machine frame <paramref name="TableMfn"/>.</summary>
public readonly record struct MmuUpdate(uint TableMfn, int Index, ulong Value);

/// <summary>mmuext_op commands (xen/include/public/xen.h MMUEXT_*).</summary>
public enum MmuextCmd : byte
{
    PinL1Table,
    PinL2Table,
    PinL3Table,
    PinL4Table,
    UnpinTable,
    /// <summary>Load a new top-level table (CR3).</summary>
    NewBaseptr,
    TlbFlushLocal,
    InvlpgLocal,
}
