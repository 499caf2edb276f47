using Memvisor.Hypervisor.Domains;
using Memvisor.Machine.Frames;

namespace Memvisor.Hypervisor.Compression;

/// <summary>
/// One domain's compression cache, after ESX memory compression: a page that compresses to half a page or less
/// is kept in a 2 KiB slot instead of going to swap; two slots share one frame the hypervisor takes from the
/// heap. The cache is capped at a share of the domain's memory; slots are kept in age order so that the oldest
/// can be moved to swap when the cache is full. A frame whose two slots are both empty goes back to the heap.
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
        if (_freeTop == 0 || compressed.Length > SlotBytes || compressed.Length == 0) return NoSlot;
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
        compressed.CopyTo(_hv.Machine.MutableBytes(_frameMfn[frame]).Slice((slot & 1) * SlotBytes, SlotBytes));
        _length[slot] = (ushort)compressed.Length;
        _gfn[slot] = (uint)gfn;
        LinkNewest(slot);
        Count++;
        CompressedBytes += compressed.Length;
        return slot;
    }

    /// <summary>The compressed bytes in a slot.</summary>
    public ReadOnlySpan<byte> Bytes(int slot) =>
        _hv.Machine.MutableBytes(_frameMfn[slot >> 1]).Slice((slot & 1) * SlotBytes, _length[slot]);

    /// <summary>Empties a slot; its frame goes back to the heap when both its slots are empty.</summary>
    public void Free(int slot)
    {
        Unlink(slot);
        Count--;
        CompressedBytes -= _length[slot];
        _length[slot] = 0;
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
