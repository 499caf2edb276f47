using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Seam;

namespace Memvisor.Tests.Support.InMemory;

/// <summary>
/// A guest's memory with no hypervisor behind it, for Guest tests: each populated gfn is one frame of a
/// <see cref="MachineMemory"/> (so bytes and content handles behave as on a host), reservations are counted against
/// max_pages, populate-on-demand gfns are backed on first touch, the store is a dictionary and the MMU walks the
/// guest's own tables as nested paging does. No sharing, paging, compression or tmem: nothing is taken behind the
/// guest's back, so a test sees the guest kernel alone.
/// </summary>
internal sealed class InMemoryGuestMemory : IGuestMemory
{
    private readonly MachineMemory _frames;
    private uint[] _mfnPlusOne;
    private bool[] _onDemand;

    /// <param name="memoryPages">Gfns 0 .. memoryPages-1 are populated at once (static), or marked populate-on-demand.</param>
    public InMemoryGuestMemory(long memoryPages, long maxPages, bool onDemand = false, ushort domId = 1)
    {
        DomId = domId;
        MaximumReservation = maxPages;
        _frames = new MachineMemory(maxPages + 64, 1);
        _mfnPlusOne = new uint[maxPages];
        _onDemand = new bool[maxPages];
        Store = new InMemoryGuestStore();
        Mmu = new InMemoryGuestMmu(this);
        for (ulong gfn = 0; gfn < (ulong)memoryPages; gfn++)
            if (onDemand) _onDemand[gfn] = true; else Populate(gfn);
        Store.SetByToolstack(StoreKeys.Target, memoryPages * 4);
        Store.SetByToolstack(StoreKeys.StaticMax, maxPages * 4);
    }

    public ushort DomId { get; }
    public long CurrentReservation { get; private set; }
    public long MaximumReservation { get; private set; }
    public long PhysicalPages => _mfnPlusOne.LongLength;
    public InMemoryGuestStore Store { get; }
    IGuestStore IGuestMemory.Store => Store;
    public IGuestMmu Mmu { get; }
    /// <summary>Every hypercall the guest made that was refused.</summary>
    public long Refusals { get; private set; }

    /// <summary>The toolstack's mem-set: memory/target, in pages.</summary>
    public void SetTarget(long pages) => Store.SetByToolstack(StoreKeys.Target, pages * 4);

    public bool IsPopulated(ulong gfn) => gfn < (ulong)_mfnPlusOne.LongLength && _mfnPlusOne[gfn] != 0;

    // As Xen's memory_op here: a call is checked whole (range, then room under max_pages) before it changes anything.
    public XenErrno PopulatePhysmap(ReadOnlySpan<ulong> gfns, int order, bool onDemand = false)
    {
        if (Check(gfns, order, out long missing) is var bad and not XenErrno.Ok) return bad;
        if (!onDemand && CurrentReservation + missing > MaximumReservation) return Refuse(XenErrno.ENOMEM);
        foreach (ulong first in gfns)
            for (ulong gfn = first; gfn < first + (1UL << order); gfn++)
            {
                if (IsPopulated(gfn)) continue;
                if (onDemand) _onDemand[gfn] = true;
                else if (!Populate(gfn)) return Refuse(XenErrno.ENOMEM);
            }
        return XenErrno.Ok;
    }

    public XenErrno IncreaseReservation(ReadOnlySpan<ulong> gfns, int order, Span<uint> mfnsOut)
    {
        if (PopulatePhysmap(gfns, order) != XenErrno.Ok) return XenErrno.ENOMEM;
        for (int i = 0; i < gfns.Length && i < mfnsOut.Length; i++) mfnsOut[i] = _mfnPlusOne[gfns[i]] - 1;
        return XenErrno.Ok;
    }

    public XenErrno DecreaseReservation(ReadOnlySpan<ulong> gfns, int order)
    {
        if (Check(gfns, order, out _) is var bad and not XenErrno.Ok) return bad;
        foreach (ulong first in gfns)
            for (ulong gfn = first; gfn < first + (1UL << order); gfn++) Drop(gfn);
        return XenErrno.Ok;
    }

    public XenErrno Exchange(ReadOnlySpan<ulong> inGfns, int inOrder, ReadOnlySpan<ulong> outGfns, int outOrder)
    {
        if (Check(inGfns, inOrder, out _) is var badIn and not XenErrno.Ok) return badIn;
        if (Check(outGfns, outOrder, out _) is var badOut and not XenErrno.Ok) return badOut;
        if (DecreaseReservation(inGfns, inOrder) != XenErrno.Ok) return XenErrno.EINVAL;
        return PopulatePhysmap(outGfns, outOrder);
    }

    // Every gfn of the extents inside the physical address space; how many of them hold no page.
    private XenErrno Check(ReadOnlySpan<ulong> gfns, int order, out long missing)
    {
        missing = 0;
        if (order is < 0 or > 18) return Refuse(XenErrno.EINVAL);
        foreach (ulong first in gfns)
        {
            if (first + (1UL << order) > (ulong)_mfnPlusOne.LongLength) return Refuse(XenErrno.EINVAL);
            for (ulong gfn = first; gfn < first + (1UL << order); gfn++)
                if (!IsPopulated(gfn)) missing++;
        }
        return XenErrno.Ok;
    }

    public XenErrno ReportFreePages(ReadOnlySpan<ulong> gfns, int order)
    {
        // Reported pages go back to the host and come back zeroed on the next touch, as populate-on-demand ones.
        foreach (ulong first in gfns)
            for (ulong gfn = first; gfn < first + (1UL << order); gfn++)
                if (IsPopulated(gfn))
                {
                    Drop(gfn);
                    _onDemand[gfn] = true;
                }
        return XenErrno.Ok;
    }

    public AccessOutcome Touch(Gfn at, bool write, ContentHandle written)
    {
        ulong gfn = at.Value;
        var outcome = Back(gfn);
        if (outcome != AccessOutcome.Refused && write) _frames.SetContent(Mfn(gfn), written);
        return outcome;
    }

    public bool ReadPage(Gfn at, Span<byte> page)
    {
        ulong gfn = at.Value;
        if (Back(gfn) == AccessOutcome.Refused) return false;
        _frames.ReadFrame(Mfn(gfn), page);
        return true;
    }

    public bool WritePage(Gfn at, ReadOnlySpan<byte> page)
    {
        ulong gfn = at.Value;
        if (Back(gfn) == AccessOutcome.Refused) return false;
        _frames.WriteFrame(Mfn(gfn), page);
        return true;
    }

    public bool TryReadWord(Gfn at, int index, out ulong value)
    {
        ulong gfn = at.Value;
        value = 0;
        if (Back(gfn) == AccessOutcome.Refused) return false;
        value = _frames.ReadWord(Mfn(gfn), index);
        return true;
    }

    public bool WriteWord(Gfn at, int index, ulong value)
    {
        ulong gfn = at.Value;
        if (Back(gfn) == AccessOutcome.Refused) return false;
        _frames.WriteWord(Mfn(gfn), index, value);
        return true;
    }

    public bool ReadPageOrHandle(Gfn at, Span<byte> page, out ContentHandle content)
    {
        content = ContentHandle.Zero;
        if (Back(at.Value) == AccessOutcome.Refused) return false;
        content = _frames.Frames[Mfn(at.Value)].Content;
        if (!(content.IsZero || content.IsSynthetic)) _frames.ReadFrame(Mfn(at.Value), page);
        return true;
    }

    public bool TryReadSynthetic(Gfn at, out ContentHandle content)
    {
        ulong gfn = at.Value;
        content = ContentHandle.Zero;
        if (Back(gfn) == AccessOutcome.Refused) return false;
        content = _frames.Frames[Mfn(gfn)].Content;
        return content.IsZero || content.IsSynthetic;
    }

    public double TakeStallNs() => 0;

    public bool Halted => false;

    // No tmem on this host: the guest's frontswap and cleancache stay off, as on a host without it.
    public int TmemNewPool(bool persistent) => -1;
    public bool TmemPut(int pool, ulong obj, uint index, Gfn gfn) => false;
    public bool TmemGet(int pool, ulong obj, uint index, Gfn gfn) => false;
    public void TmemFlush(int pool, ulong obj, uint index) { }
    public bool TmemPeek(int pool, ulong obj, uint index, Span<byte> page) => false;

    private uint Mfn(ulong gfn) => _mfnPlusOne[gfn] - 1;

    private AccessOutcome Back(ulong gfn)
    {
        if (IsPopulated(gfn)) return AccessOutcome.Hit;
        if (gfn < (ulong)_onDemand.LongLength && _onDemand[gfn] && Populate(gfn))
        {
            _onDemand[gfn] = false;
            return AccessOutcome.PopulatedOnDemand;
        }
        Refusals++;
        return AccessOutcome.Refused;
    }

    private bool Populate(ulong gfn)
    {
        if (CurrentReservation >= MaximumReservation || !_frames.TryAllocate(0, 0, DomId, out uint mfn)) return false;
        _frames.SetContent(mfn, ContentHandle.Zero);
        _mfnPlusOne[gfn] = mfn + 1;
        CurrentReservation++;
        return true;
    }

    private void Drop(ulong gfn)
    {
        _onDemand[gfn] = false;
        if (!IsPopulated(gfn)) return;
        _frames.SetContent(Mfn(gfn), ContentHandle.Zero);
        _frames.Free(Mfn(gfn), 0);
        _mfnPlusOne[gfn] = 0;
        CurrentReservation--;
    }

    private XenErrno Refuse(XenErrno errno)
    {
        Refusals++;
        return errno;
    }
}
