using Memvisor.Machine.Lanes;

namespace Memvisor.Machine.Content;

/// <summary>
/// A value worked out from the bytes of a synthetic page (its XXH3 hash, its compressed length), kept by the page's
/// content handle: a synthetic page's bytes are a pure function of its handle, so a page met again unchanged (the
/// sharing scanner revisits every page each pass, tmem is offered the same file page each time reclaim drops it, a page
/// paged in and out again) needs neither its bytes generated nor the work done again. Every value here was worked out
/// from bytes by the owner, and owners keep only non-zero pages, so a hit also answers the zero check. Direct-mapped
/// with a fixed number of slots, made on first use: a newer handle takes an older one's slot, and a miss only means the
/// bytes are generated again. Allocates nothing per page.
/// </summary>
public sealed class HandleMemo(long frames)
{
    // Enough slots for a pass over a host of this size, within 16 MiB.
    private readonly int _slotBits = (int)Math.Clamp(Math.Ceiling(Math.Log2(Math.Max(frames, 1))), 12, 20);
    // Slot i is a handle at 2i and its value at 2i+1, so a lookup touches one cache line.
    private ulong[]? _slots;

    /// <summary>The value kept for the page named by <paramref name="handle"/>, if it is still kept.</summary>
    public bool TryGet(ulong handle, out ulong value)
    {
        value = 0;
        if (_slots is null || handle == 0) return false;
        int at = 2 * Slot(handle);
        if (_slots[at] != handle) return false;
        value = _slots[at + 1];
        return true;
    }

    /// <summary>Keeps a value worked out from a non-zero page's bytes under its handle.</summary>
    public void Put(ulong handle, ulong value)
    {
        Turn.Require("the content memo");
        if (handle == 0) return;
        _slots ??= new ulong[2 << _slotBits];
        int at = 2 * Slot(handle);
        _slots[at] = handle;
        _slots[at + 1] = value;
    }

    private int Slot(ulong handle) => (int)((handle * 0x9E37_79B9_7F4A_7C15UL) >> (64 - _slotBits));
}
