using Memvisor.Guest.Kernel;
using Memvisor.Guest.Memory;
using Memvisor.Machine.Content;
using Memvisor.Machine.Lanes;
using Memvisor.Seam;

namespace Memvisor.Guest.Devices;

/// <summary>
/// netback, the PV network backend in dom0 (Linux drivers/net/xen-netback): a packet for a guest arrives in a page of
/// dom0's own, and reaches the guest's posted receive buffer either by GNTTABOP_copy (netback's receive path since
/// Linux 3.x) or, as the Xen paper's I/O path did, by page flipping: GNTTABOP_transfer gives dom0's page itself to the
/// guest, and dom0 takes a fresh page from Xen in its place. A packet the guest sends is copied out of its granted
/// page into a page of dom0's. One page a packet; the wire and the backend's CPU time are not modeled. Every entry
/// from a guest's step takes the lane's turn first (<see cref="Turn"/>): dom0's pages are another domain's.
/// </summary>
public sealed class NetBack(GuestKernel dom0, IGuestGrants grants)
{
    private ulong _rx = ulong.MaxValue, _tx = ulong.MaxValue;
    // The receive page went to a guest and Xen had none to put in its place yet.
    private bool _rxEmpty;

    /// <summary>dom0's two kernel pages a packet passes through (received, sent); false if dom0 could not spare them.</summary>
    public bool Ready() => (_rx != ulong.MaxValue || KernelPage(out _rx)) && (_tx != ulong.MaxValue || KernelPage(out _tx));

    /// <summary>A packet with <paramref name="packet"/>'s bytes arrives for the guest's buffer granted under <paramref name="gref"/>.</summary>
    public bool Deliver(ushort front, uint gref, ContentHandle packet, bool flip, NetStats stats)
    {
        // The backend is dom0's: a guest's step that reaches it touches another domain, so it waits for its turn.
        Turn.Take();
        var memory = dom0.Memory;
        if (_rxEmpty && !Replenish(stats)) return false;
        if (memory.Touch(new Gfn(_rx), write: true, packet) == AccessOutcome.Refused) return false;
        if (!flip)
        {
            if (grants.GrantCopy(memory.DomId, _rx, front, gref, 0, Memvisor.Machine.Frames.PageSize.Bytes) != XenErrno.Ok) return false;
            stats.RxCopies++;
            return true;
        }
        if (grants.GrantTransfer(new Gfn(_rx), front, gref) != XenErrno.Ok) return false;
        stats.Flips++;
        // The page went with the packet: dom0 asks Xen for another at the same gfn (netback's replenishment); if Xen
        // has none now, the next packet waits for one.
        _rxEmpty = true;
        Replenish(stats);
        return true;
    }

    private bool Replenish(NetStats stats)
    {
        if (dom0.Memory.PopulatePhysmap([_rx], 0) != XenErrno.Ok) return false;
        _rxEmpty = false;
        stats.BackendReplenished++;
        return true;
    }

    /// <summary>The guest sends the page it granted under <paramref name="gref"/>: netback copies it into its own page for the wire.</summary>
    public bool Send(ushort front, uint gref, NetStats stats)
    {
        Turn.Take();
        if (grants.GrantCopy(front, gref, dom0.Memory.DomId, _tx, 0, Memvisor.Machine.Frames.PageSize.Bytes) != XenErrno.Ok) return false;
        stats.TxCopies++;
        return true;
    }

    private bool KernelPage(out ulong gfn)
    {
        if (!dom0.TryAllocateNoRetry(out gfn)) return false;
        dom0.Pages.Assign(gfn, PageUse.Kernel, GuestKernel.KernelSlot, 0);
        return true;
    }
}
