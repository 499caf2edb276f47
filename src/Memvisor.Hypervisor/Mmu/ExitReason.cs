namespace Memvisor.Hypervisor.Mmu;

/// <summary>Why a vCPU entered the hypervisor other than by hypercall (VMX exit reasons, and PV traps bounced through Xen).</summary>
public enum ExitReason : byte
{
    /// <summary>A page fault the hypervisor sees first: a shadow fault (fixed up or injected), or a PV guest's #PF bounced to it.</summary>
    PageFault,
    /// <summary>A write to a write-protected guest page-table page: emulated, or (Shadow-3) the page unsynced.</summary>
    PageTableWrite,
    /// <summary>A MOV to CR3 under shadow paging.</summary>
    Cr3Write,
    /// <summary>INVLPG under shadow paging.</summary>
    Invlpg,
    /// <summary>An EPT/NPT violation: the p2m has no frame there yet (populate-on-demand, paged out).</summary>
    EptViolation,
    /// <summary>A write to a page that log-dirty mode write-protected.</summary>
    LogDirty,
}

public static class ExitReasons
{
    public const int Count = 6;
    public static IReadOnlyList<string> Names { get; } = ["page_fault", "page_table_write", "cr3_write", "invlpg", "ept_violation", "log_dirty"];
}
