namespace Memvisor.Seam;

/// <summary>
/// A domain's one port to the hypervisor, as its guest kernel holds it: its physical memory, the memory_op and tmem
/// hypercalls, its XenStore connection and its vCPU's MMU, each a narrow interface of its own that a collaborator
/// can take alone. This is the seam a hardware-KVM backend would implement; the guest model depends on nothing else.
/// </summary>
public interface IGuestMemory : IGuestPhysicalMemory, IGuestMemoryOp, IGuestTmem
{
    ushort DomId { get; }

    /// <summary>The vCPU's MMU: how the guest's page tables are translated, written and switched in the domain's MMU mode.</summary>
    IGuestMmu Mmu { get; }

    /// <summary>The domain's XenStore connection (memory/target, memory/static-max, control/feature-balloon ...).</summary>
    IGuestStore Store { get; }

    /// <summary>Time the hypervisor spent serving this guest's accesses (page-ins, copy-on-write breaks, tmem copies) since the last call: the guest's vCPU waited that long.</summary>
    double TakeStallNs();

    /// <summary>Whether the hypervisor has stopped the domain's vCPUs (Xen's domain_crash): the guest runs no more, and nothing it would do counts.</summary>
    bool Halted { get; }
}
