using Memvisor.Guest.Kernel;
using Memvisor.Guest.Storage;
using Memvisor.Machine.Lanes;
using Memvisor.Seam;

namespace Memvisor.Guest.Devices;

/// <summary>
/// blkback, the PV block backend in dom0 (Linux drivers/block/xen-blkback): for each request on a frontend's ring it
/// maps the granted data page into a ballooned-out gfn of dom0's own (map_grant_ref), moves the block between the
/// disk and that page, unmaps it and answers on the ring. With persistent grants (feature-persistent) a page the
/// frontend always grants again stays mapped, so later requests on it need no hypercall. The gfns it maps into are
/// dom0's memory given back to Xen (alloc_xenballooned_pages): what the backend costs dom0, a page each, taken when a
/// frontend connects and kept for the next one when it goes. Requests are served as they are pushed (one segment
/// each); the backend's CPU time is not modeled.
/// </summary>
public sealed class BlkBack(GuestKernel dom0, IGuestGrants grants)
{
    private sealed class Frontend(ushort domId, BlkStats stats)
    {
        public ushort DomId { get; } = domId;
        public BlkStats Stats { get; } = stats;
        public ulong RingGfn = NoGfn, DataGfn = NoGfn;
        public uint RingHandle = uint.MaxValue;
        public ulong ReqCons;
        public readonly Dictionary<uint, (ulong Gfn, uint Handle)> Persistent = [];
        public readonly Stack<ulong> PersistentSlots = new();
        public readonly Dictionary<int, PageStore> Disks = [];
    }

    private const ulong NoGfn = ulong.MaxValue;
    private readonly Dictionary<ushort, Frontend> _fronts = [];
    private readonly Stack<ulong> _spare = new();

    /// <summary>dom0 gfns given back to Xen for the backend's mappings (Linux's alloc_xenballooned_pages), in use or spare.</summary>
    public long ForeignPages { get; private set; }

    /// <summary>
    /// A frontend connects: its ring page (granted under <paramref name="ringRef"/>) is mapped for good, and a gfn is
    /// set aside for each data page in flight and each persistent grant it may use. False (nothing kept) if dom0
    /// cannot spare the pages or the ring cannot be mapped.
    /// </summary>
    public bool Connect(ushort front, uint ringRef, int persistentPages, BlkStats stats)
    {
        if (_fronts.ContainsKey(front)) return false;
        var f = new Frontend(front, stats);
        if (!TakeSlot(out f.RingGfn) | !TakeSlot(out f.DataGfn))
        {
            Release(f);
            return false;
        }
        for (int i = 0; i < persistentPages; i++)
        {
            if (!TakeSlot(out ulong slot))
            {
                Release(f);
                return false;
            }
            f.PersistentSlots.Push(slot);
        }
        if (grants.GrantMap(front, ringRef, new Gfn(f.RingGfn), readOnly: false, out uint ring) != XenErrno.Ok)
        {
            Release(f);
            return false;
        }
        f.RingHandle = ring;
        stats.BackendMaps++;
        _fronts[front] = f;
        return true;
    }

    /// <summary>The toolstack gives the backend a disk of the frontend's (the vbd's backing store).</summary>
    public void Attach(ushort front, int diskId, PageStore disk)
    {
        if (_fronts.TryGetValue(front, out var f)) f.Disks[diskId] = disk;
    }

    /// <summary>The frontend's event: every request pushed since the last one is served and answered on the ring.</summary>
    public void Kick(ushort front)
    {
        // The backend is dom0's: a guest's step that reaches it touches another domain, so it waits for its turn.
        Turn.Take();
        if (!_fronts.TryGetValue(front, out var f)) return;
        var memory = dom0.Memory;
        ulong prod = BlkRing.Read(memory, f.RingGfn, BlkRing.ReqProd);
        bool answered = false;
        while (f.ReqCons != prod && prod != ulong.MaxValue)
        {
            ulong i = f.ReqCons++;
            ulong op = BlkRing.Read(memory, f.RingGfn, BlkRing.Word(i, 0));
            uint gref = (uint)BlkRing.Read(memory, f.RingGfn, BlkRing.Word(i, 1));
            int disk = (int)BlkRing.Read(memory, f.RingGfn, BlkRing.Word(i, 2));
            long block = (long)BlkRing.Read(memory, f.RingGfn, BlkRing.Word(i, 3));
            bool ok = f.Disks.TryGetValue(disk, out var store) && op is BlkRing.OpRead or BlkRing.OpWrite && Serve(f, op == BlkRing.OpWrite, gref, store!, block);
            memory.WriteWord(new Gfn(f.RingGfn), BlkRing.Word(i, 0), ok ? BlkRing.StatusOk : BlkRing.StatusError);
            memory.WriteWord(new Gfn(f.RingGfn), BlkRing.RspProd, f.ReqCons);
            answered = true;
        }
        if (answered) f.Stats.BackendNotifies++;
    }

    /// <summary>The frontend goes (its domain is destroyed): every mapping of its pages is removed and the gfns are kept for the next frontend.</summary>
    public void Disconnect(ushort front)
    {
        if (!_fronts.Remove(front, out var f)) return;
        Release(f);
    }

    /// <summary>
    /// The frontend's domain is gone (saved, or migrated away) and its pages' mappings went with it: the backend
    /// drops what it kept of it and keeps the gfns for the next frontend.
    /// </summary>
    public void Forget(ushort front)
    {
        if (_fronts.Remove(front, out var f)) Release(f, unmap: false);
    }

    // One request: the data page is mapped (or found mapped, with persistent grants) and the block moves through it.
    private bool Serve(Frontend f, bool write, uint gref, PageStore disk, long block)
    {
        var memory = dom0.Memory;
        ulong at;
        if (f.Persistent.TryGetValue(gref, out var kept)) at = kept.Gfn;
        else if (f.PersistentSlots.TryPop(out ulong slot))
        {
            if (grants.GrantMap(f.DomId, gref, new Gfn(slot), readOnly: false, out uint handle) != XenErrno.Ok)
            {
                f.PersistentSlots.Push(slot);
                return false;
            }
            f.Stats.BackendMaps++;
            f.Persistent[gref] = (slot, handle);
            at = slot;
        }
        else
        {
            if (grants.GrantMap(f.DomId, gref, new Gfn(f.DataGfn), readOnly: write, out uint handle) != XenErrno.Ok) return false;
            f.Stats.BackendMaps++;
            bool done = write ? disk.Save(memory, f.DataGfn, block) : disk.Load(memory, f.DataGfn, block);
            if (grants.GrantUnmap(handle) == XenErrno.Ok) f.Stats.BackendUnmaps++;
            return done;
        }
        return write ? disk.Save(memory, at, block) : disk.Load(memory, at, block);
    }

    // The frontend's gfns go back to the spares; its mappings are removed first unless they went with its domain.
    private void Release(Frontend f, bool unmap = true)
    {
        foreach (var (gfn, handle) in f.Persistent.Values)
        {
            if (unmap && grants.GrantUnmap(handle) == XenErrno.Ok) f.Stats.BackendUnmaps++;
            _spare.Push(gfn);
        }
        f.Persistent.Clear();
        if (unmap && f.RingHandle != uint.MaxValue && grants.GrantUnmap(f.RingHandle) == XenErrno.Ok) f.Stats.BackendUnmaps++;
        f.RingHandle = uint.MaxValue;
        foreach (ulong gfn in f.PersistentSlots) _spare.Push(gfn);
        f.PersistentSlots.Clear();
        if (f.RingGfn != NoGfn) _spare.Push(f.RingGfn);
        if (f.DataGfn != NoGfn) _spare.Push(f.DataGfn);
        (f.RingGfn, f.DataGfn) = (NoGfn, NoGfn);
    }

    // A gfn of dom0's that holds nothing: a spare one, or a page of dom0's given back to Xen for it.
    private bool TakeSlot(out ulong gfn)
    {
        if (_spare.TryPop(out gfn)) return true;
        if (!dom0.TryAllocateNoRetry(out gfn))
        {
            gfn = NoGfn;
            return false;
        }
        if (dom0.Memory.DecreaseReservation([gfn], 0) != XenErrno.Ok)
        {
            dom0.Allocator.Give(gfn);
            gfn = NoGfn;
            return false;
        }
        dom0.Allocator.RemoveForForeign(gfn);
        ForeignPages++;
        return true;
    }
}
