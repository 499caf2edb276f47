namespace Memvisor.Machine.Frames;

/// <summary>A frame's validated use, after Xen's PGT_* types (xen/arch/x86/mm.c): a frame is one of these at a time.</summary>
public enum PageType : byte
{
    None = 0,
    Writable = 1,
    L1 = 2,
    L2 = 3,
    L3 = 4,
    L4 = 5,
    SegDesc = 6,
}
