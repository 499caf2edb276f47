using Memvisor.Guest.Kernel;
using Memvisor.Guest.Memory;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Seam;

namespace Memvisor.Guest.Devices;

/// <summary>
/// netfront, the PV network frontend (Linux drivers/net/xen-netfront.c): the guest posts receive buffers to dom0, 256
/// as its receive ring holds (NET_RX_RING_SIZE), each granted for a copy, or, with page flipping, given back to Xen
/// and offered for a transfer (gnttab_grant_foreign_transfer); a received page is checked against the packet's bytes
/// and the buffer posted again. To send it grants a page read-only for the backend to copy. Traffic comes at the
/// scenario's receive and send rates, a page a packet.
/// </summary>
public sealed class NetFront(GuestKernel k, IGuestGrants grants, NetBack back, ushort backendDomId, double rxBytesPerSecond, double txBytesPerSecond, bool flip)
{
    /// <summary>Receive buffers posted at once: Linux netfront's NET_RX_RING_SIZE for 4 KiB pages.</summary>
    public const int RxBuffers = 256;
    // Grant references: the second table frame (the first is the block device's).
    private const uint FirstRef = 512, TxRef = FirstRef + RxBuffers;

    private readonly List<ulong> _buffers = [];
    // Flipping: whether buffer i's gfn holds a page now (its own at first, then each page flipped into it).
    private readonly List<bool> _holding = [];
    private ulong _txPage = ulong.MaxValue;
    private int _next;
    private double _rxCredit, _txCredit;
    private ulong _packets;
    private readonly byte[] _got = new byte[PageSize.Bytes];
    private readonly byte[] _want = new byte[PageSize.Bytes];

    public NetStats Stats { get; } = new();
    public bool Flip => flip;
    /// <summary>Whether it is connected now; a guest whose device could not (re)connect has no traffic.</summary>
    public bool Connected { get; private set; }

    /// <summary>Sets up the table's second frame, the receive buffers (posted) and the page it sends from; false if the guest or dom0 could not spare them.</summary>
    public bool Connect()
    {
        Connected = false;
        if (!back.Ready() || grants.GrantSetupTable(2) != XenErrno.Ok) return false;
        for (int i = 0; i < RxBuffers; i++)
        {
            // A resumed frontend posts the buffers it has (they moved with the domain).
            if (i == _buffers.Count)
            {
                if (!NewPage(out ulong gfn)) return false;
                _buffers.Add(gfn);
                _holding.Add(true);
            }
            if (!Post(i)) return false;
        }
        Connected = _txPage != ulong.MaxValue || NewPage(out _txPage);
        return Connected;
    }

    /// <summary>
    /// netfront's resume (netfront_resume, talk_to_netback): the domain was rebuilt with an empty grant table, so the
    /// buffers are posted again to <paramref name="backend"/>, dom0's on the host it is on now.
    /// </summary>
    public bool Resume(NetBack backend, ushort backendDomain)
    {
        (back, backendDomId) = (backend, backendDomain);
        Connected = false;
        Stats.Resumes++;
        return Connect();
    }

    /// <summary>The traffic of <paramref name="dtNs"/>: pages received into the posted buffers, and pages sent.</summary>
    public void Step(long dtNs)
    {
        _rxCredit += rxBytesPerSecond * dtNs / 1e9 / PageSize.Bytes;
        _txCredit += txBytesPerSecond * dtNs / 1e9 / PageSize.Bytes;
        for (; _rxCredit >= 1; _rxCredit--) Receive();
        for (; _txCredit >= 1; _txCredit--) Send();
    }

    private void Receive()
    {
        int i = _next;
        _next = (_next + 1) % RxBuffers;
        var packet = Packet();
        Stats.RxPages++;
        bool delivered = back.Deliver(k.Memory.DomId, FirstRef + (uint)i, packet, flip, Stats);
        if (flip && delivered) _holding[i] = true;
        if (!delivered || !Arrived(_buffers[i], packet)) Stats.Errors++;
        if (!flip && grants.GrantEndAccess(FirstRef + (uint)i) != XenErrno.Ok) Stats.Errors++;
        if (!Post(i)) Stats.Errors++;
    }

    private void Send()
    {
        // The page to send holds the next packet's bytes; the backend copies it while it is granted read-only.
        var packet = Packet();
        Stats.TxPages++;
        bool ok = k.Memory.Touch(new Gfn(_txPage), write: true, packet) != AccessOutcome.Refused
            && grants.GrantAccess(TxRef, backendDomId, new Gfn(_txPage), readOnly: true) == XenErrno.Ok;
        if (ok) Stats.GrantsIssued++;
        ok = ok && back.Send(k.Memory.DomId, TxRef, Stats);
        if (!(ok && grants.GrantEndAccess(TxRef) == XenErrno.Ok)) Stats.Errors++;
    }

    // Posts buffer i: granted for a copy, or (flipping) given back to Xen and offered for a transfer into its gfn.
    private bool Post(int i)
    {
        ulong gfn = _buffers[i];
        uint gref = FirstRef + (uint)i;
        if (!flip)
        {
            if (grants.GrantAccess(gref, backendDomId, new Gfn(gfn), readOnly: false) != XenErrno.Ok) return false;
            Stats.GrantsIssued++;
            return true;
        }
        if (_holding[i])
        {
            // The page goes back to Xen; the gfn stays out of the memory map while it waits for a flipped page.
            if (k.Memory.DecreaseReservation([gfn], 0) != XenErrno.Ok) return false;
            if (k.Pages.UseOf(gfn) != PageUse.Foreign) k.Allocator.RemoveForForeign(gfn);
            _holding[i] = false;
        }
        if (grants.GrantAcceptTransfer(gref, backendDomId, new Gfn(gfn)) != XenErrno.Ok) return false;
        Stats.GrantsIssued++;
        return true;
    }

    // A packet's bytes: generated from the guest's stream and the packet's number (bit 55 set, apart from the
    // workloads' pages), so that what arrives can be checked.
    private ContentHandle Packet() => ContentHandle.Synthetic(ContentClass.Incompressible, 1UL << 55 | (k.Options.RandomStream & 0xFFFF) << 36 | ++_packets);

    // Whether the buffer holds the packet's bytes.
    private bool Arrived(ulong gfn, ContentHandle packet)
    {
        if (!k.Memory.ReadPageOrHandle(new Gfn(gfn), _got, out var content)) return false;
        if (content.IsSynthetic || content.IsZero) return content == packet;
        ContentGenerator.Fill(packet.SyntheticClass, packet.Seed, _want);
        return _got.AsSpan().SequenceEqual(_want);
    }

    private bool NewPage(out ulong gfn)
    {
        if (!k.TryAllocatePage(user: false, out gfn)) return false;
        k.Pages.Assign(gfn, PageUse.Kernel, GuestKernel.KernelSlot, 0);
        Stats.BufferPages++;
        return true;
    }
}
