using Memvisor.Hypervisor.Errors;
using Memvisor.Machine.Content;

namespace Memvisor.Hypervisor.Seam;

/// <summary>
/// Everything a guest kernel may ask of the hypervisor about memory: the memory_op hypercalls on its own domain
/// (DOMID_SELF) and the hardware events of touching its pages. This is the seam a hardware-KVM backend would
/// implement; the guest model depends on nothing else in the hypervisor.
/// </summary>
public interface IGuestMemory
{
    ushort DomId { get; }

    /// <summary>XENMEM_current_reservation: frames the domain holds.</summary>
    long CurrentReservation { get; }

    /// <summary>XENMEM_maximum_reservation: max_pages.</summary>
    long MaximumReservation { get; }

    /// <summary>The size of the guest's physical address space in pages (gfns 0 .. this-1).</summary>
    long PhysicalPages { get; }

    /// <summary>The vCPU's MMU: how the guest's page tables are translated, written and switched in the domain's MMU mode.</summary>
    IGuestMmu Mmu { get; }

    /// <summary>The domain's XenStore connection (memory/target, memory/static-max, control/feature-balloon ...).</summary>
    IGuestStore Store { get; }

    XenErrno PopulatePhysmap(ReadOnlySpan<ulong> gfns, int order, bool onDemand = false);
    XenErrno IncreaseReservation(ReadOnlySpan<ulong> gfns, int order, Span<uint> mfnsOut);
    XenErrno DecreaseReservation(ReadOnlySpan<ulong> gfns, int order);
    XenErrno Exchange(ReadOnlySpan<ulong> inGfns, int inOrder, ReadOnlySpan<ulong> outGfns, int outOrder);

    /// <summary>
    /// The guest touches a page: a read, or a write that leaves the page holding <paramref name="written"/> (a
    /// synthetic content). A populate-on-demand gfn is backed on first touch.
    /// </summary>
    AccessOutcome Touch(ulong gfn, bool write, ContentHandle written);

    /// <summary>Reads the page's bytes; false if the gfn holds no page.</summary>
    bool ReadPage(ulong gfn, Span<byte> page);

    /// <summary>Writes real bytes to the page; false if the gfn holds no page and none could be populated.</summary>
    bool WritePage(ulong gfn, ReadOnlySpan<byte> page);

    /// <summary>Reads 64-bit word <paramref name="index"/> (0..511) of the page, as the CPU reads a page-table entry; false if the gfn holds no page.</summary>
    bool TryReadWord(ulong gfn, int index, out ulong value);

    /// <summary>Writes 64-bit word <paramref name="index"/> of the page, as the guest writes a page-table entry; false if the gfn holds no page.</summary>
    bool WriteWord(ulong gfn, int index, ulong value);

    /// <summary>
    /// Reads a page the way a device's DMA would copy it when its bytes are generated: true with the page's content
    /// handle if the page is zero or synthetic; false if the gfn holds no page or holds real bytes (then use <see cref="ReadPage"/>).
    /// </summary>
    bool TryReadSynthetic(ulong gfn, out ContentHandle content);

    /// <summary>Time the hypervisor spent serving this guest's accesses (page-ins, copy-on-write breaks, tmem copies) since the last call: the guest's vCPU waited that long.</summary>
    double TakeStallNs();

    /// <summary>
    /// Free page reporting (virtio-balloon VIRTIO_BALLOON_F_REPORTING): the guest says these free extents hold
    /// nothing it needs. The hypervisor takes their frames back; the next touch of each gfn gets a zeroed frame.
    /// </summary>
    XenErrno ReportFreePages(ReadOnlySpan<ulong> gfns, int order);

    /// <summary>TMEM_NEW_POOL: a persistent (frontswap) or ephemeral (cleancache) pool; its id, or -1 if the host has no tmem.</summary>
    int TmemNewPool(bool persistent);

    /// <summary>TMEM_PUT_PAGE: copies the page at gfn into the pool under (object, index); false if refused.</summary>
    bool TmemPut(int pool, ulong obj, uint index, ulong gfn);

    /// <summary>TMEM_GET_PAGE: copies the page back into gfn and removes it from the pool; false if the pool does not hold it.</summary>
    bool TmemGet(int pool, ulong obj, uint index, ulong gfn);

    /// <summary>TMEM_FLUSH_PAGE: the pool forgets (object, index).</summary>
    void TmemFlush(int pool, ulong obj, uint index);

    /// <summary>Reads a page the pool holds without taking it (for the guest's integrity checker); false if it is not held.</summary>
    bool TmemPeek(int pool, ulong obj, uint index, Span<byte> page);
}
