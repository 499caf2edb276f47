namespace Memvisor.Seam;

/// <summary>The memory_op hypercalls a guest makes on its own domain (DOMID_SELF; Xen's xen/common/memory.c), and free page reporting.</summary>
public interface IGuestMemoryOp
{
    /// <summary>XENMEM_current_reservation: frames the domain holds.</summary>
    long CurrentReservation { get; }

    /// <summary>XENMEM_maximum_reservation: max_pages.</summary>
    long MaximumReservation { get; }

    XenErrno PopulatePhysmap(ReadOnlySpan<ulong> gfns, int order, bool onDemand = false);
    XenErrno IncreaseReservation(ReadOnlySpan<ulong> gfns, int order, Span<uint> mfnsOut);
    XenErrno DecreaseReservation(ReadOnlySpan<ulong> gfns, int order);
    XenErrno Exchange(ReadOnlySpan<ulong> inGfns, int inOrder, ReadOnlySpan<ulong> outGfns, int outOrder);

    /// <summary>
    /// Free page reporting (virtio-balloon VIRTIO_BALLOON_F_REPORTING): the guest says these free extents hold
    /// nothing it needs. The hypervisor takes their frames back; the next touch of each gfn gets a zeroed frame.
    /// </summary>
    XenErrno ReportFreePages(ReadOnlySpan<ulong> gfns, int order);
}
