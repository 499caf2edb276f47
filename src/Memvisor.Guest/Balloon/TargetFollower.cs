using Memvisor.Guest.Kernel;
using Memvisor.Guest.Memory;
using Memvisor.Hypervisor.Errors;

namespace Memvisor.Guest.Balloon;

/// <summary>
/// Follows memory/target as Linux's Xen balloon driver does: to shrink, it allocates pages from the guest (which may
/// reclaim, but never calls the OOM killer and stops at the min watermark) and gives them back with
/// decrease_reservation; to grow, it asks for its ballooned gfns again with populate_physmap. Batches of 256 pages;
/// after a failure it retries after 1 s, doubling to 32 s.
/// </summary>
public sealed class TargetFollower(GuestKernel k, bool onDemand)
{
    private const int Batch = 256;
    private const long MaxBackoffNs = 32_000_000_000;

    private readonly ulong[] _batch = new ulong[Batch];
    private double _credit;
    private long _retryAtNs;
    private long _backoffNs = 1_000_000_000;

    public void Step(long nowNs, long dtNs)
    {
        long target = Math.Min(k.Memory.TargetPages, k.Memory.PhysicalPages);
        long held = k.HeldPages;
        if (target == held)
        {
            _credit = 0;
            return;
        }
        if (nowNs < _retryAtNs) return;
        _credit += k.Options.TargetPagesPerSecond * dtNs / 1e9;
        long budget = (long)_credit;
        _credit -= budget;
        bool ok = target < held ? Inflate(Math.Min(budget, held - target)) : Deflate(Math.Min(budget, target - held));
        if (ok)
        {
            _backoffNs = 1_000_000_000;
            return;
        }
        k.Stats.TargetFailures++;
        _retryAtNs = nowNs + _backoffNs;
        _backoffNs = Math.Min(_backoffNs * 2, MaxBackoffNs);
        _credit = 0;
    }

    // Takes pages from the guest and gives them to the hypervisor; false if the guest could not spare enough.
    private bool Inflate(long pages)
    {
        while (pages > 0)
        {
            int n = 0;
            while (n < Batch && n < pages && TryTakePage(out ulong gfn)) _batch[n++] = gfn;
            if (n == 0) return false;
            var batch = _batch.AsSpan(0, n);
            if (k.Memory.DecreaseReservation(batch, 0) != XenErrno.Ok)
            {
                foreach (ulong gfn in batch) k.Allocator.Give(gfn);
                return false;
            }
            foreach (ulong gfn in batch) k.Allocator.RemoveHeld(gfn);
            k.Stats.PagesReleased += n;
            pages -= n;
            if (n < Batch && pages > 0) return false;
        }
        return true;
    }

    // GFP_HIGHUSER | __GFP_NORETRY: one round of direct reclaim, no OOM killer, never below the min watermark.
    private bool TryTakePage(out ulong gfn)
    {
        if (k.Allocator.FreePages <= k.Allocator.MinPages) k.Reclaimer.Reclaim(32, direct: false);
        if (k.Allocator.FreePages > k.Allocator.MinPages && k.Allocator.TryTake(out gfn)) return true;
        gfn = 0;
        return false;
    }

    // Asks for ballooned gfns back, lowest first; false if the hypervisor refused.
    private bool Deflate(long pages)
    {
        long cursor = 0;
        while (pages > 0)
        {
            int n = 0;
            while (n < Batch && n < pages)
            {
                long gfn = NextUnheld(cursor);
                if (gfn < 0) break;
                _batch[n++] = (ulong)gfn;
                cursor = gfn + 1;
            }
            if (n == 0) return false;
            var batch = _batch.AsSpan(0, n);
            if (k.Memory.PopulatePhysmap(batch, 0, onDemand) != XenErrno.Ok) return false;
            foreach (ulong gfn in batch) k.Allocator.AddHeld(gfn);
            k.Stats.PagesReclaimed += n;
            pages -= n;
        }
        return true;
    }

    private long NextUnheld(long from)
    {
        for (long g = from; g < k.Pages.Length; g++)
            if (k.Pages[(ulong)g].Use == PageUse.Unheld) return g;
        return -1;
    }
}
