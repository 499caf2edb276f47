using Memvisor.Hypervisor.Domains;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;

namespace Memvisor.Hypervisor.Compression;

/// <summary>
/// One domain's compression cache, after ESX memory compression: a page that compresses to half a page or less
/// is kept in a 2 KiB slot instead of going to swap; two slots share one frame the hypervisor takes from the
/// heap. The cache is capped at a share of the domain's memory; slots are kept in age order so that the oldest
/// can be moved to swap when the cache is full. A frame whose two slots are both empty goes back to the heap.
/// A synthetic page (its bytes a pure function of its content handle) is kept as its handle and the length its bytes
/// compressed to, worked out from the bytes: the slot and its frame are taken and counted as for the compressed bytes,
/// which are not copied, and the page comes back by its handle. Every other page keeps its compressed bytes.
/// </summary>
public sealed class CompressionCache
{
    public const int SlotBytes = PageSize.Bytes / 2;
    private const int NoSlot = -1;

    private readonly Host _hv;
    private readonly uint[] _frameMfn;
    private readonly byte[] _frameUse;
    private readonly ushort[] _length;
    private readonly uint[] _gfn;
    private readonly ulong[] _handle;
    private readonly int[] _older;
    private readonly int[] _newer;
    private readonly int[] _freeSlots;
    private int _freeTop;
    private int _oldest = NoSlot;
    private int _newest = NoSlot;
    private readonly int _node;

    internal CompressionCache(Host hv, Domain? d, int node, long capacityFrames)
    {
        _hv = hv;
        Domain = d;
        _node = node;
        CapacityFrames = (int)Math.Clamp(capacityFrames, 1, int.MaxValue / 2);
        int slots = CapacityFrames * 2;
        _frameMfn = new uint[CapacityFrames];
        Array.Fill(_frameMfn, uint.MaxValue);
        _frameUse = new byte[CapacityFrames];
        _length = new ushort[slots];
        _gfn = new uint[slots];
        _handle = new ulong[slots];
        _older = new int[slots];
        _newer = new int[slots];
        _freeSlots = new int[slots];
        for (int i = 0; i < slots; i++) _freeSlots[i] = slots - 1 - i;
        _freeTop = slots;
    }

    /// <summary>The domain whose evicted pages this caches; null for tmem's compressed pool.</summary>
    public Domain? Domain { get; }
    public int CapacityFrames { get; }
    /// <summary>Compressed pages held.</summary>
    public int Count { get; private set; }
    /// <summary>Frames the cache holds now.</summary>
    public int Frames { get; private set; }
    /// <summary>Sum of the compressed sizes of the pages held.</summary>
    public long CompressedBytes { get; private set; }
    public bool IsFull => _freeTop == 0;

    /// <summary>The oldest slot and the gfn it holds; false if the cache is empty.</summary>
    public bool TryOldest(out int slot, out ulong gfn)
    {
        slot = _oldest;
        gfn = slot == NoSlot ? 0 : _gfn[slot];
        return slot != NoSlot;
    }

    /// <summary>Stores compressed bytes for gfn; the slot, or -1 if the cache is full or no frame could be had for it.</summary>
    public int TryStore(ulong gfn, ReadOnlySpan<byte> compressed)
    {
        int slot = TryTake(gfn, compressed.Length, ContentHandle.Zero);
        if (slot == NoSlot) return slot;
        uint mfn = _frameMfn[slot >> 1];
        // A frame marked by a page kept by handle (below) gets a buffer of its own; that page's bytes are not in it.
        if (_hv.Machine.Frames[mfn].Content.IsSynthetic) _hv.Machine.SetContent(mfn, ContentHandle.Zero);
        compressed.CopyTo(_hv.Machine.MutableBytes(mfn).Slice((slot & 1) * SlotBytes, SlotBytes));
        return slot;
    }

    /// <summary>Stores the synthetic page <paramref name="content"/>, whose bytes compress to <paramref name="length"/>, for gfn; the slot, or -1 as for <see cref="TryStore"/>.</summary>
    public int TryStore(ulong gfn, ContentHandle content, int length) =>
        content.IsSynthetic ? TryTake(gfn, length, content) : NoSlot;

    /// <summary>The synthetic page a slot holds by its handle; false if the slot holds compressed bytes.</summary>
    public bool TryHandle(int slot, out ContentHandle content)
    {
        content = new ContentHandle(_handle[slot]);
        return _handle[slot] != 0;
    }

    private int TryTake(ulong gfn, int length, ContentHandle content)
    {
        if (_freeTop == 0 || length > SlotBytes || length == 0) return NoSlot;
        int slot = _freeSlots[_freeTop - 1];
        int frame = slot >> 1;
        if (_frameMfn[frame] == uint.MaxValue)
        {
            if (!_hv.Machine.TryAllocate(0, _node, DomIds.Xen, out uint mfn)) return NoSlot;
            _frameMfn[frame] = mfn;
            Frames++;
        }
        _freeTop--;
        _frameUse[frame]++;
        _length[slot] = (ushort)length;
        _gfn[slot] = (uint)gfn;
        _handle[slot] = content.Raw;
        // The frame holds data now, so it is scrubbed when it goes back to the heap, as one with compressed bytes would be.
        if (!content.IsZero && _hv.Machine.Frames[_frameMfn[frame]].Content.IsZero) _hv.Machine.SetContent(_frameMfn[frame], content);
        LinkNewest(slot);
        Count++;
        CompressedBytes += length;
        return slot;
    }

    /// <summary>The compressed bytes in a slot that holds bytes (see <see cref="TryHandle"/>).</summary>
    public ReadOnlySpan<byte> Bytes(int slot) =>
        _hv.Machine.MutableBytes(_frameMfn[slot >> 1]).Slice((slot & 1) * SlotBytes, _length[slot]);

    /// <summary>Empties a slot; its frame goes back to the heap when both its slots are empty.</summary>
    public void Free(int slot)
    {
        Unlink(slot);
        Count--;
        CompressedBytes -= _length[slot];
        _length[slot] = 0;
        _handle[slot] = 0;
        int frame = slot >> 1;
        if (--_frameUse[frame] == 0)
        {
            _hv.Machine.Free(_frameMfn[frame], 0);
            _frameMfn[frame] = uint.MaxValue;
            Frames--;
        }
        _freeSlots[_freeTop++] = slot;
    }

    /// <summary>Gives every frame back (the domain is destroyed).</summary>
    internal void Release()
    {
        for (int f = 0; f < _frameMfn.Length; f++)
        {
            if (_frameMfn[f] == uint.MaxValue) continue;
            _hv.Machine.Free(_frameMfn[f], 0);
            _frameMfn[f] = uint.MaxValue;
        }
        Frames = 0;
        Count = 0;
        CompressedBytes = 0;
        Array.Clear(_handle);
    }

    private void LinkNewest(int slot)
    {
        _older[slot] = _newest;
        _newer[slot] = NoSlot;
        if (_newest != NoSlot) _newer[_newest] = slot;
        _newest = slot;
        if (_oldest == NoSlot) _oldest = slot;
    }

    private void Unlink(int slot)
    {
        int older = _older[slot], newer = _newer[slot];
        if (older != NoSlot) _newer[older] = newer; else _oldest = newer;
        if (newer != NoSlot) _older[newer] = older; else _newest = older;
    }
}
