namespace Memvisor.Seam;

/// <summary>
/// The vCPU's memory-management unit as a guest kernel drives it: the hardware's translation (which sets accessed
/// and dirty bits), the kernel's reads and writes of its own page-table entries (frames as gfns in every mode),
/// CR3 loads, INVLPG and flushes. Under PV the writes become validated mmu_update hypercalls; under shadow paging
/// they may trap; under nested paging they are plain stores. This is the seam's MMU half: a hardware-KVM backend
/// would implement it with the real MMU.
/// </summary>
public interface IGuestMmu
{
    /// <summary>Whether the guest may map 2 MiB pages (not under PV: Xen gives PV guests no superpages).</summary>
    bool LargePages { get; }

    /// <summary>The hardware translating <paramref name="vpn"/> in the current address space; a page fault names the guest entry that stopped it.</summary>
    Translation Translate(Vpn vpn, bool write);

    ulong ReadEntry(ulong table, int index);

    /// <summary>Writes an entry; false if the hypervisor refused it at once (a PV update may also be refused when its batch is issued, which the MMU counts).</summary>
    bool WriteEntry(ulong table, int index, ulong value);

    /// <summary>The guest has built the top-level table of a new address space: PV pins it (Linux's xen_pgd_pin); false if refused.</summary>
    bool PinTopLevel(ulong root);

    /// <summary>Loads CR3 with <paramref name="root"/>, tagged <paramref name="asid"/>; false if refused.</summary>
    bool SwitchAddressSpace(ulong root, int asid);

    /// <summary>The address space's process is gone: what the hypervisor kept for it (pins, shadows) is dropped.</summary>
    void ReleaseAddressSpace(ulong root);

    /// <summary>Invalidates one page of address space <paramref name="asid"/>: INVLPG if it is the current one, else only its tagged TLB entry.</summary>
    void InvalidatePage(int asid, Vpn vpn);

    /// <summary>Flushes address space <paramref name="asid"/>: a CR3 reload if it is the current one, else only its tagged TLB entries.</summary>
    void FlushAddressSpace(int asid);

    /// <summary>Issues the updates the guest has queued (PV's lazy MMU batch).</summary>
    void Submit();

    /// <summary>
    /// A hint that <paramref name="vpn"/> is about to be accessed, given in stages a few accesses apart: stage 0 starts
    /// loading what finds its page-table entry, stage 1 the entry, stage 2 the p2m entry that entry names, stage 3 (for
    /// a <paramref name="write"/>) the frame behind it. It models nothing and changes nothing: it lets the simulator
    /// overlap the memory latency of its own lookups.
    /// </summary>
    void Prefetch(Vpn vpn, int stage, bool write) { }
}
