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

    /// <summary>memory/target as the toolstack last set it, in pages.</summary>
    long TargetPages { get; }

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
}
