using Memvisor.Guest.Kernel;
using Memvisor.Guest.Memory;
using Memvisor.Guest.Storage;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Seam;

namespace Memvisor.Guest.Devices;

/// <summary>
/// blkfront, the PV block frontend (Linux drivers/block/xen-blkfront.c): the guest grants dom0 its ring page once,
/// then for each request grants the data page (read-only for a write), pushes the request on the ring, notifies the
/// backend and, once answered, ends the grant. With persistent grants (feature-persistent) it grants a pool of pages
/// once, 352 of them as blkfront's ring of 32 requests of 11 segments allows, and copies each block between the pool
/// page and its own page instead, so the backend maps each pool page once.
/// </summary>
public sealed class BlkFront(GuestKernel k, IGuestGrants grants, BlkBack back, ushort backendDomId, bool persistent) : IBlockDevice
{
    /// <summary>Pages a persistent-grants frontend keeps granted: BLKIF_MAX_SEGMENTS_PER_REQUEST (11) x 32 ring slots.</summary>
    public const int PersistentPages = 11 * BlkRing.Slots;

    private const uint RingRef = 0, DataRef = 1, FirstPersistentRef = 2;

    private const ulong NoPage = ulong.MaxValue;
    private ulong _ring = NoPage;
    private readonly List<ulong> _pool = [];
    private readonly HashSet<int> _attached = [];
    private ulong _reqProd;
    private int _nextPool;
    private readonly byte[] _copy = new byte[PageSize.Bytes];

    public BlkStats Stats { get; } = new();
    public bool Persistent => persistent;
    public bool Connected { get; private set; }

    /// <summary>
    /// Connects to the backend: a table frame (1 holds 512 entries), the ring page granted, the persistent pool
    /// allocated and granted. False if the guest or dom0 could not spare the pages; the guest then uses its disk
    /// directly.
    /// </summary>
    public bool Connect()
    {
        int entries = (int)FirstPersistentRef + (persistent ? PersistentPages : 0);
        if (grants.GrantSetupTable((entries + 511) / 512) != XenErrno.Ok) return false;
        // A resumed frontend keeps its pages (they moved with the domain) and starts its ring afresh.
        if (_ring == NoPage ? !NewPage(out _ring) : !k.Memory.WritePage(new Gfn(_ring), GuestKernel.ZeroPage)) return false;
        if (grants.GrantAccess(RingRef, backendDomId, new Gfn(_ring), readOnly: false) != XenErrno.Ok) return false;
        Stats.GrantsIssued++;
        if (persistent)
            for (int i = 0; i < PersistentPages; i++)
            {
                if (i == _pool.Count)
                {
                    if (!NewPage(out ulong page)) return false;
                    _pool.Add(page);
                }
                if (grants.GrantAccess(FirstPersistentRef + (uint)i, backendDomId, new Gfn(_pool[i]), readOnly: false) != XenErrno.Ok) return false;
                Stats.GrantsIssued++;
            }
        Stats.GrantedPages = 1 + _pool.Count;
        Connected = back.Connect(k.Memory.DomId, RingRef, persistent ? PersistentPages : 0, Stats);
        return Connected;
    }

    /// <summary>
    /// blkfront's resume (blkfront_resume, talk_to_blkback): the guest's domain was rebuilt (restored, or migrated,
    /// perhaps to another host) with an empty grant table, so the frontend grants its ring and pool again and
    /// connects to <paramref name="backend"/>, dom0's there. False if it could not; the guest then uses its disk directly.
    /// </summary>
    public bool Resume(BlkBack backend, ushort backendDomain)
    {
        (back, backendDomId) = (backend, backendDomain);
        (_reqProd, _nextPool, Connected) = (0, 0, false);
        _attached.Clear();
        Stats.Resumes++;
        return Connect();
    }

    public bool Read(PageStore disk, int diskId, ulong gfn, long block)
    {
        Attach(disk, diskId);
        Stats.Reads++;
        if (!persistent) return Transient(BlkRing.OpRead, diskId, gfn, block);
        ulong page = NextPool(out uint gref);
        if (!Request(BlkRing.OpRead, gref, diskId, block)) return false;
        Stats.PersistentCopies++;
        return Copy(page, gfn);
    }

    public bool Write(PageStore disk, int diskId, ulong gfn, long block)
    {
        Attach(disk, diskId);
        Stats.Writes++;
        if (!persistent) return Transient(BlkRing.OpWrite, diskId, gfn, block);
        ulong page = NextPool(out uint gref);
        Stats.PersistentCopies++;
        return Copy(gfn, page) && Request(BlkRing.OpWrite, gref, diskId, block);
    }

    // The data page itself is granted for the one request (read-only when the backend only reads it).
    private bool Transient(ulong op, int diskId, ulong gfn, long block)
    {
        if (grants.GrantAccess(DataRef, backendDomId, new Gfn(gfn), readOnly: op == BlkRing.OpWrite) != XenErrno.Ok) return Failed();
        Stats.GrantsIssued++;
        bool ok = Request(op, DataRef, diskId, block);
        return grants.GrantEndAccess(DataRef) == XenErrno.Ok && ok;
    }

    // Pushes one request, notifies the backend, and reads its answer off the ring.
    private bool Request(ulong op, uint gref, int diskId, long block)
    {
        var memory = k.Memory;
        ulong i = _reqProd++;
        bool pushed = memory.WriteWord(new Gfn(_ring), BlkRing.Word(i, 0), op)
            & memory.WriteWord(new Gfn(_ring), BlkRing.Word(i, 1), gref)
            & memory.WriteWord(new Gfn(_ring), BlkRing.Word(i, 2), (ulong)diskId)
            & memory.WriteWord(new Gfn(_ring), BlkRing.Word(i, 3), (ulong)block)
            & memory.WriteWord(new Gfn(_ring), BlkRing.ReqProd, _reqProd);
        if (!pushed) return Failed();
        Stats.FrontendNotifies++;
        back.Kick(memory.DomId);
        bool ok = BlkRing.Read(memory, _ring, BlkRing.RspProd) == _reqProd && BlkRing.Read(memory, _ring, BlkRing.Word(i, 0)) == BlkRing.StatusOk;
        return ok || Failed();
    }

    private ulong NextPool(out uint gref)
    {
        int i = _nextPool;
        _nextPool = (_nextPool + 1) % _pool.Count;
        gref = FirstPersistentRef + (uint)i;
        return _pool[i];
    }

    // memcpy between two of the guest's pages: a generated page moves as its content handle.
    private bool Copy(ulong from, ulong to)
    {
        var memory = k.Memory;
        if (!memory.ReadPageOrHandle(new Gfn(from), _copy, out var content)) return Failed();
        bool ok = content.IsZero || content.IsSynthetic
            ? memory.Touch(new Gfn(to), write: true, content) != AccessOutcome.Refused
            : memory.WritePage(new Gfn(to), _copy);
        return ok || Failed();
    }

    private void Attach(PageStore disk, int diskId)
    {
        if (_attached.Add(diskId)) back.Attach(k.Memory.DomId, diskId, disk);
    }

    private bool NewPage(out ulong gfn)
    {
        if (!k.TryAllocatePage(user: false, out gfn)) return false;
        k.Pages.Assign(gfn, PageUse.Kernel, GuestKernel.KernelSlot, 0);
        return k.Memory.WritePage(new Gfn(gfn), GuestKernel.ZeroPage);
    }

    private bool Failed()
    {
        Stats.Errors++;
        return false;
    }
}
