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
}
