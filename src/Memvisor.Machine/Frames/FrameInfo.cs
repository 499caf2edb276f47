using System.Runtime.InteropServices;
using Memvisor.Machine.Content;

namespace Memvisor.Machine.Frames;

/// <summary>
/// One frame table entry, Xen's struct page_info packed into 16 bytes (Xen's is 32): the content handle,
/// owner domid, type count and reference count, page type and state flags. For a free block head the
/// TypeCount field holds the block's buddy order, since a free frame has no type.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 2)]
public struct FrameInfo
{
    public ContentHandle Content;
    public ushort Owner;
    public ushort TypeCount;
    public ushort RefCount;
    public PageType Type;
    public FrameFlags Flags;

    public const int SizeInBytes = 16;

    public readonly bool IsFree => (Flags & FrameFlags.Free) != 0;
}
