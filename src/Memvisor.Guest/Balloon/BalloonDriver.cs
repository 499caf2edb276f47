using Memvisor.Guest.Kernel;
using Memvisor.Guest.Memory;
using Memvisor.Seam;
using Memvisor.Machine.Frames;

namespace Memvisor.Guest.Balloon;

/// <summary>
/// The balloon driver, after Linux's drivers/xen/balloon.c: it watches memory/target in XenStore; to shrink, it
/// allocates pages from the guest (which may reclaim, but never calls the OOM killer and stops at the min
/// watermark) and gives them back with decrease_reservation; to grow, it asks for its ballooned gfns again with
/// populate_physmap. It moves at its configured rate in batches of 256, backs off after a failure (1 s doubling to
/// 32 s), never takes the guest below its kernel reserve, and reports what it holds in memory/current so the
/// toolstack can see whether it makes progress. Self-ballooning may set a lower target of its own.
/// </summary>
public sealed class BalloonDriver(GuestKernel k, bool onDemand)
{
    private const int Batch = 256;
    private const long MaxBackoffNs = 32_000_000_000;

    private readonly ulong[] _batch = new ulong[Batch];
    private double _credit;
    private long _retryAtNs;
    private long _backoffNs = 1_000_000_000;
    private long _reportedPages = -1;

    public BalloonOptions Options => k.Options.Balloon;

    /// <summary>memory/target as last read from the store, in pages.</summary>
    public long StoreTargetPages { get; private set; } = -1;

    /// <summary>The target self-ballooning asked for, in pages; -1 if none.</summary>
    public long SelfTargetPages { get; private set; } = -1;

    /// <summary>
    /// Pages the balloon never takes the guest below: its kernel text, page tables and high watermark (Linux's
    /// totalreserve_pages), or the configured floor if that is larger.
    /// </summary>
    public long FloorPages =>
        Math.Max(Options.FloorPages, k.Pages.CountOf(PageUse.Kernel) + k.Pages.CountOf(PageUse.PageTable) + k.Allocator.HighPages);

    /// <summary>What the driver steers toward now: the store's target (or self-ballooning's, if lower), no lower than the floor and no higher than the memory the guest can address.</summary>
    public long TargetPages
    {
        get
        {
            long target = StoreTargetPages < 0 ? Counted : StoreTargetPages;
            if (SelfTargetPages >= 0) target = Math.Min(target, SelfTargetPages);
            target = Math.Max(target, FloorPages);
            return Math.Min(target, k.Hotplug?.AddressablePages ?? k.Pages.Length);
        }
    }

    // What the driver counts toward its target: the pages the guest holds, and those its backends or frontends gave
    // Xen to map or receive foreign pages into (Linux's alloc_xenballooned_pages counts them as target_unpopulated),
    // which the balloon must not take back.
    private long Counted => k.HeldPages + k.Pages.CountOf(PageUse.Foreign);

    /// <summary>At boot: watch memory/target and announce the driver (control/feature-balloon).</summary>
    public void Connect()
    {
        StoreTargetPages = ReadTarget();
        if (!Options.Enabled) return;
        k.Memory.Store.Watch(StoreKeys.Target);
        k.Memory.Store.Write(StoreKeys.FeatureBalloon, 1);
    }

    /// <summary>A watched store key fired.</summary>
    public void OnStoreEvent(string key)
    {
        if (key == StoreKeys.Target) StoreTargetPages = ReadTarget();
    }

    /// <summary>Self-ballooning's balloon_set_new_target.</summary>
    public void SetSelfTarget(long pages) => SelfTargetPages = pages;

    public void Step(long nowNs, long dtNs)
    {
        if (!Options.Enabled) return;
        Move(nowNs, dtNs);
        if (k.HeldPages != _reportedPages)
        {
            _reportedPages = k.HeldPages;
            k.Memory.Store.Write(StoreKeys.Current, PageSize.ToKiB(_reportedPages));
        }
    }

    private void Move(long nowNs, long dtNs)
    {
        long target = TargetPages, held = Counted;
        if (target == held)
        {
            _credit = 0;
            return;
        }
        if (nowNs < _retryAtNs) return;
        _credit += Options.RatePagesPerSecond * dtNs / 1e9;
        long budget = (long)_credit;
        _credit -= budget;
        if (budget == 0) return;
        bool ok = target < held ? Inflate(Math.Min(budget, held - target)) : Deflate(Math.Min(budget, target - held));
        if (ok)
        {
            _backoffNs = 1_000_000_000;
            return;
        }
        k.Counters.TargetFailures++;
        _retryAtNs = nowNs + _backoffNs;
        _backoffNs = Math.Min(_backoffNs * 2, MaxBackoffNs);
        _credit = 0;
    }

    private long ReadTarget()
    {
        long kib = k.Memory.Store.ReadLong(StoreKeys.Target, -1);
        return kib < 0 ? -1 : kib / PageSize.KiB;
    }

    // Takes pages from the guest and gives them to the hypervisor; false if the guest could not spare enough.
    private bool Inflate(long pages)
    {
        while (pages > 0)
        {
            int n = 0;
            while (n < Batch && n < pages && k.TryAllocateNoRetry(out ulong gfn)) _batch[n++] = gfn;
            if (n == 0) return false;
            var batch = _batch.AsSpan(0, n);
            if (k.Memory.DecreaseReservation(batch, 0) != XenErrno.Ok)
            {
                foreach (ulong gfn in batch) k.Allocator.Give(gfn);
                return false;
            }
            foreach (ulong gfn in batch) k.Allocator.RemoveHeld(gfn);
            k.Counters.PagesGivenBack += n;
            pages -= n;
            if (n < Batch && pages > 0) return false;
        }
        return true;
    }

    // Asks for ballooned gfns back, lowest first; false if the hypervisor refused or none is left to ask for.
    private bool Deflate(long pages)
    {
        long cursor = 0;
        while (pages > 0)
        {
            int n = 0;
            while (n < Batch && n < pages)
            {
                long gfn = NextBallooned(cursor);
                if (gfn < 0) break;
                _batch[n++] = (ulong)gfn;
                cursor = gfn + 1;
            }
            if (n == 0) return false;
            var batch = _batch.AsSpan(0, n);
            if (k.Memory.PopulatePhysmap(batch, 0, onDemand) != XenErrno.Ok) return false;
            foreach (ulong gfn in batch) k.Allocator.AddHeld(gfn);
            k.Counters.PagesTakenBack += n;
            pages -= n;
        }
        return true;
    }

    // The next gfn the guest does not hold and may take back: with hot-plug on, only in online memory.
    private long NextBallooned(long from)
    {
        long end = k.Pages.Length;
        for (long g = from; g < end; g++)
            if (k.Pages.UseOf((ulong)g) == PageUse.Unheld && (k.Hotplug?.IsOnline((ulong)g) ?? true)) return g;
        return -1;
    }
}
