namespace Memvisor.Machine.Frames;

/// <summary>Per-frame state bits (Xen's PGC_* count_info flags, reduced to what Memvisor uses).</summary>
[Flags]
public enum FrameFlags : byte
{
    None = 0,
    /// <summary>In the heap's free lists (PGC_state_free).</summary>
    Free = 1 << 0,
    /// <summary>Head of a free buddy block; the block's order is kept in the entry's TypeCount.</summary>
    FreeHead = 1 << 1,
    /// <summary>Freed with the previous owner's bytes still in it (PGC_need_scrub).</summary>
    ScrubPending = 1 << 2,
    /// <summary>Allocated to the hypervisor itself (Xen heap pages).</summary>
    XenHeap = 1 << 3,
    /// <summary>Not usable as RAM (holes, broken frames).</summary>
    Broken = 1 << 4,
}
