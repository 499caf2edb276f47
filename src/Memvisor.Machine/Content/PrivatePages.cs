using System.Buffers.Binary;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Lanes;

namespace Memvisor.Machine.Content;

/// <summary>
/// Mutable page buffers, each owned by exactly one frame: the bytes of pages that are written a word at a time
/// (page tables), which would be wasteful to hash and deduplicate on every write. Buffers are kept in slabs and
/// reused; a released buffer is zeroed before it is handed out again.
/// </summary>
public sealed class PrivatePages
{
    private const int SlabPages = 256;
    private readonly List<byte[]> _slabs = [];
    private readonly Stack<int> _freeIds = new();
    private int _highWater;

    /// <summary>Buffers in use.</summary>
    public int Count { get; private set; }

    /// <summary>Takes a zeroed buffer and returns its id.</summary>
    public int Allocate()
    {
        Turn.Require("the content store");
        Count++;
        if (_freeIds.Count > 0) return _freeIds.Pop();
        int id = _highWater++;
        if (id / SlabPages >= _slabs.Count) _slabs.Add(new byte[SlabPages * PageSize.Bytes]);
        return id;
    }

    public void Release(int id)
    {
        Turn.Require("the content store");
        Bytes(id).Clear();
        _freeIds.Push(id);
        Count--;
    }

    public Span<byte> Bytes(int id) => _slabs[id / SlabPages].AsSpan((id % SlabPages) * PageSize.Bytes, PageSize.Bytes);

    /// <summary>The 8-byte word at <paramref name="byteOffset"/> (a multiple of 8 below a page) of buffer <paramref name="id"/>: a page-table walk's read, one slab lookup and one bounds check.</summary>
    public ulong ReadWord(int id, int byteOffset)
    {
        System.Diagnostics.Debug.Assert((uint)byteOffset <= PageSize.Bytes - 8 && (byteOffset & 7) == 0, "A word offset lies inside the page, on a word.");
        return BinaryPrimitives.ReadUInt64LittleEndian(_slabs[id / SlabPages].AsSpan((id % SlabPages) * PageSize.Bytes + (byteOffset & (PageSize.Bytes - 8)), 8));
    }

    /// <summary>A reference to the byte at <paramref name="byteOffset"/> of buffer <paramref name="id"/>, for a prefetch.</summary>
    public ref byte At(int id, int byteOffset) => ref _slabs[id / SlabPages][(id % SlabPages) * PageSize.Bytes + (byteOffset & (PageSize.Bytes - 1))];
}
