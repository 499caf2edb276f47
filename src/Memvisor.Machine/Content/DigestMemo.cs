namespace Memvisor.Machine.Content;

/// <summary>
/// The machine's memory of the XXH3 hashes of synthetic pages, by content handle: a synthetic page's bytes are a pure
/// function of its handle, so a page met again unchanged (the sharing scanner revisits every page each pass, tmem is
/// offered the same file page each time reclaim drops it) needs neither its bytes generated nor hashed. Every hash
/// here was worked out from bytes (XxHash.Hash64 of Memvisor.Native, by every caller), and only non-zero pages are
/// kept, so a hit also answers the zero check. Direct-mapped with a fixed number of slots, made on first use: a newer
/// handle takes an older one's slot, and a miss only means the bytes are generated again. Allocates nothing per page.
/// </summary>
public sealed class DigestMemo(long frames)
{
    // Enough slots for a pass over a host of this size, within 16 MiB.
    private readonly int _slotBits = (int)Math.Clamp(Math.Ceiling(Math.Log2(Math.Max(frames, 1))), 12, 20);
    // Slot i is a handle at 2i and its hash at 2i+1, so a lookup touches one cache line.
    private ulong[]? _slots;

    /// <summary>The hash kept for the page named by <paramref name="handle"/>, if it is still kept.</summary>
    public bool TryGet(ulong handle, out ulong hash)
    {
        hash = 0;
        if (_slots is null || handle == 0) return false;
        int at = 2 * Slot(handle);
        if (_slots[at] != handle) return false;
        hash = _slots[at + 1];
        return true;
    }

    /// <summary>Keeps the hash of a non-zero page's bytes under its handle.</summary>
    public void Put(ulong handle, ulong hash)
    {
        if (handle == 0) return;
        _slots ??= new ulong[2 << _slotBits];
        int at = 2 * Slot(handle);
        _slots[at] = handle;
        _slots[at + 1] = hash;
    }

    private int Slot(ulong handle) => (int)((handle * 0x9E37_79B9_7F4A_7C15UL) >> (64 - _slotBits));
}
