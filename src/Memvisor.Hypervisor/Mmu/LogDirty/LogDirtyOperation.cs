namespace Memvisor.Hypervisor.Mmu.LogDirty;

/// <summary>The log-dirty operations of XEN_DOMCTL_shadow_op.</summary>
public enum LogDirtyOperation : byte
{
    Enable,
    Off,
    /// <summary>Return the dirty pages and write-protect them again.</summary>
    Clean,
    /// <summary>Return the dirty pages only.</summary>
    Peek,
}
