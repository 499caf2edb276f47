using Memvisor.Guest.Memory;
using Memvisor.Seam;

namespace Memvisor.Guest.Storage;

/// <summary>A guest swap device (a swap partition in Linux terms): slots of one page, a slot map and the pages' contents.</summary>
public sealed class SwapDevice
{
    private readonly GfnBitmap _used;
    private readonly GfnBitmap _inTmem;
    private int _frontswapPool = -1;
    private IGuestTmem? _frontswap;
    private readonly PageStore _store = new(_ => Machine.Content.ContentHandle.Zero);
    private int _cursor;

    public SwapDevice(long slots)
    {
        Slots = slots;
        _used = new GfnBitmap(Math.Max(1, slots));
        _inTmem = new GfnBitmap(Math.Max(1, slots));
    }

    /// <summary>Linux's frontswap over Xen tmem: a swapped-out page is first offered to this persistent pool and only written to the device if refused.</summary>
    public void AttachFrontswap(IGuestTmem memory, int pool)
    {
        _frontswap = memory;
        _frontswapPool = pool;
    }

    /// <summary>Pages put into tmem instead of being written to the device, and read back from it.</summary>
    public long FrontswapStores { get; private set; }
    public long FrontswapLoads { get; private set; }

    public long Slots { get; }
    public long UsedSlots => _used.Count;
    public long FreeSlots => Slots - _used.Count;
    public PageStore Store => _store;

    /// <summary>
    /// Takes a free slot and puts the page at <paramref name="gfn"/> into it: into tmem when frontswap takes it
    /// (<paramref name="inTmem"/>), else onto the device. False if the device is full.
    /// </summary>
    public bool TrySwapOut(IGuestMemory memory, ulong gfn, out uint slot, out bool inTmem)
    {
        slot = 0;
        inTmem = false;
        if (FreeSlots <= 0) return false;
        long s = FindFree();
        if (s < 0) return false;
        if (_frontswapPool >= 0 && memory.TmemPut(_frontswapPool, 0, (uint)s, new Gfn(gfn)))
        {
            _inTmem.Set(s);
            inTmem = true;
            FrontswapStores++;
        }
        else if (!_store.Save(memory, gfn, s)) return false;
        _used.Set(s);
        _cursor = (int)(s >> 6);
        slot = (uint)s;
        return true;
    }

    /// <summary>Reads slot <paramref name="slot"/> into the page at <paramref name="gfn"/>; <paramref name="fromTmem"/> when frontswap held it (no device read).</summary>
    public bool SwapIn(IGuestMemory memory, uint slot, ulong gfn, out bool fromTmem)
    {
        fromTmem = _inTmem[slot];
        if (!fromTmem) return _store.Load(memory, gfn, slot);
        _inTmem.Clear(slot);
        FrontswapLoads++;
        return memory.TmemGet(_frontswapPool, 0, slot, new Gfn(gfn));
    }

    /// <summary>Copies a slot's bytes out without swapping it in (for the integrity checker).</summary>
    public bool TryRead(IGuestMemory memory, uint slot, Span<byte> page)
    {
        if (_inTmem[slot]) return memory.TmemPeek(_frontswapPool, 0, slot, page);
        _store.Read(slot, page);
        return true;
    }

    public void Free(uint slot)
    {
        _used.Clear(slot);
        if (_inTmem[slot])
        {
            _inTmem.Clear(slot);
            // The slot held by tmem was not read back (the process exited or unmapped it): flush it.
            _frontswap?.TmemFlush(_frontswapPool, 0, slot);
        }
        else _store.Discard(slot);
    }


    private long FindFree()
    {
        long s = _used.FindClear(_cursor);
        return s >= 0 ? s : _used.FindClear(0);
    }
}
