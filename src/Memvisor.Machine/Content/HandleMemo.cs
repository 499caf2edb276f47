using System.Runtime.InteropServices;
using Memvisor.Machine.Lanes;
using Memvisor.Native;

namespace Memvisor.Machine.Content;

/// <summary>
/// A value worked out from the bytes of a synthetic page (its XXH3 hash, its compressed length), kept by the page's
/// content handle: a synthetic page's bytes are a pure function of its handle, so a page met again unchanged (the
/// sharing scanner revisits every page each pass, tmem is offered the same file page each time reclaim drops it, a page
/// paged in and out again) needs neither its bytes generated nor the work done again. Every value here was worked out
/// from bytes by the owner, and owners keep only non-zero pages, so a hit also answers the zero check. Four-way set
/// associative, a set to a cache line, with a fixed number of sets made on first use: a new handle goes first in its
/// set and the set's oldest is dropped, and a miss only means the bytes are generated again. Allocates nothing per page.
/// </summary>
public sealed class HandleMemo(long frames)
{
    private const int Ways = 4;
    // Enough entries for a pass over a host of this size, within 16 MiB (16 B an entry).
    private readonly int _setBits = (int)Math.Clamp(Math.Ceiling(Math.Log2(Math.Max(frames, 1))), 12, 20) - 2;
    // Set i is entries 4i..4i+3 from _base; entry j is a handle at 2j and its value at 2j+1. The array is pinned and
    // _base puts the first set on a 64-byte boundary, so that each set is one cache line.
    private ulong[]? _entries;
    private int _base;

    /// <summary>The value kept for the page named by <paramref name="handle"/>, if it is still kept.</summary>
    public bool TryGet(ulong handle, out ulong value)
    {
        value = 0;
        if (_entries is null || handle == 0) return false;
        int at = _base + Set(handle);
        for (int way = 0; way < 2 * Ways; way += 2)
        {
            if (_entries[at + way] != handle) continue;
            value = _entries[at + way + 1];
            return true;
        }
        return false;
    }

    /// <summary>Keeps a value worked out from a non-zero page's bytes under its handle.</summary>
    public void Put(ulong handle, ulong value)
    {
        Turn.Require("the content memo");
        if (handle == 0) return;
        if (_entries is null) Allocate();
        int at = _base + Set(handle);
        var set = _entries.AsSpan(at, 2 * Ways);
        for (int way = 0; way < 2 * Ways; way += 2)
        {
            if (set[way] != handle) continue;
            set[way + 1] = value;
            return;
        }
        set[..(2 * Ways - 2)].CopyTo(set[2..]);
        set[0] = handle;
        set[1] = value;
    }

    /// <summary>Starts loading the set of <paramref name="handle"/> into the cache, for a lookup soon after.</summary>
    public void Prefetch(ulong handle)
    {
        if (_entries is not null) CacheLine.Prefetch(ref _entries[_base + Set(handle)]);
    }

    private void Allocate()
    {
        var entries = GC.AllocateArray<ulong>((2 * Ways << _setBits) + 8, pinned: true);
        _base = (int)((64 - Marshal.UnsafeAddrOfPinnedArrayElement(entries, 0) % 64) % 64 / 8);
        _entries = entries;
    }

    private int Set(ulong handle) => (int)((handle * 0x9E37_79B9_7F4A_7C15UL) >> (64 - _setBits)) * 2 * Ways;
}
