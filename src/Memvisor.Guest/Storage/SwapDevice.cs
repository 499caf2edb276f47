using Memvisor.Guest.Memory;
using Memvisor.Hypervisor.Seam;

namespace Memvisor.Guest.Storage;

/// <summary>A guest swap device (a swap partition in Linux terms): slots of one page, a slot map and the pages' contents.</summary>
public sealed class SwapDevice
{
    private readonly GfnBitmap _used;
    private readonly PageStore _store = new(_ => Machine.Content.ContentHandle.Zero);
    private int _cursor;

    public SwapDevice(long slots)
    {
        Slots = slots;
        _used = new GfnBitmap(Math.Max(1, slots));
    }

    public long Slots { get; }
    public long UsedSlots => _used.Count;
    public long FreeSlots => Slots - _used.Count;
    public PageStore Store => _store;

    /// <summary>Takes a free slot and writes the page at <paramref name="gfn"/> into it; false if the device is full.</summary>
    public bool TrySwapOut(IGuestMemory memory, ulong gfn, out uint slot)
    {
        slot = 0;
        if (FreeSlots <= 0) return false;
        long s = FindFree();
        if (s < 0 || !_store.Save(memory, gfn, s)) return false;
        _used.Set(s);
        _cursor = (int)(s >> 6);
        slot = (uint)s;
        return true;
    }

    /// <summary>Reads slot <paramref name="slot"/> into the page at <paramref name="gfn"/>.</summary>
    public bool SwapIn(IGuestMemory memory, uint slot, ulong gfn) => _store.Load(memory, gfn, slot);

    public void Free(uint slot)
    {
        _used.Clear(slot);
        _store.Discard(slot);
    }

    private long FindFree()
    {
        long s = _used.FindClear(_cursor);
        return s >= 0 ? s : _used.FindClear(0);
    }
}
