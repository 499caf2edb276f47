using Memvisor.Guest.Kernel;
using Memvisor.Guest.Memory;

namespace Memvisor.Guest.Tiering;

/// <summary>
/// Linux's memory tiering inside a guest whose virtual NUMA nodes differ in speed (a vnuma node without CPUs on slower
/// memory, Pond's zNUMA), the guest's half of HMvisor's cooperation. Demotion in reclaim (demotion_enabled;
/// mm/vmscan.c, demote_folio_list): when the CPUs' node falls below its low watermark, kswapd moves cold anonymous
/// pages to the CPU-less node instead of swapping them, up to its high watermark. Promotion by NUMA balancing's memory
/// tiering mode (numa_balancing=2; kernel/sched/fair.c task_numa_work and numa_promotion_adjust_threshold, mm/memory.c
/// do_numa_page): every scan period the next numa_balancing_scan_size_mb of the CPU-less node's pages are set to fault
/// on their next access (a NUMA hint fault); a page whose fault comes within the hot threshold of being set is hot and
/// moves to the CPUs' node while that node has free pages above its high watermark, at most promote_rate_limit_MBps a
/// second; when it has not, kswapd is woken to demote toward a watermark one step higher.
/// </summary>
public sealed class GuestTiering
{
    /// <summary>numa_balancing_scan_period_min_ms: the fastest NUMA balancing rescans a task's memory, 1 s.</summary>
    public const long ScanPeriodNs = 1_000_000_000;
    /// <summary>numa_balancing_promote_rate_limit_MBps (65,536; the kernel shifts it by 20 - PAGE_SHIFT, so MiB) in 4 KiB pages a second.</summary>
    public const long PromotePagesPerSecond = 65_536L << 20 >> 12;
    /// <summary>numa_balancing_scan_size_mb (256 MiB) in 4 KiB pages: how much of the slower node one scan period sets to fault.</summary>
    public const long ScanPages = 256L << 20 >> 12;
    /// <summary>
    /// numa_balancing_hot_threshold_ms (1 s): a hint fault within this of the page being set to fault marks it hot (the
    /// threshold stays there while promotions keep under the rate limit). The window is set at the period's start and
    /// the period is as long, so with these defaults every first fault in a period is within it, as in Linux.
    /// </summary>
    public const long HotThresholdNs = 1_000_000_000;

    private readonly GuestKernel _k;
    // Per page of the CPU-less nodes (gfn - local pages): the scan period of its last hint fault, 0 for none.
    private int[] _lastHint = [];
    private int _period = 1;
    private long _periodStartNs;
    // The scan's window over the CPU-less node's pages this period: [_scanFrom, _scanFrom + ScanPages), wrapping.
    private long _scanFrom;
    private long _promoteBudget = PromotePagesPerSecond * ScanPeriodNs / 1_000_000_000;
    private bool _wakeForPromotion;
    // Hot pages that found the CPUs' node full since the last step: kswapd, which runs between them in Linux, makes their room too.
    private long _refusedSinceStep;

    internal GuestTieringStats Counters;
    public GuestTieringStats Stats => Counters;

    internal GuestTiering(GuestKernel k) => _k = k;

    // Per-node watermarks, the CPUs' node's share of the guest's (Linux sets each zone's by its size).
    private (long Low, long High, long Promo) Watermarks()
    {
        var a = _k.Allocator;
        long local = a.LocalPages, managed = Math.Max(1, a.ManagedPages);
        long min = a.MinPages * local / managed;
        long step = Math.Max(min / 4, local * 10 / 10_000);
        return (min + step, min + 2 * step, min + 3 * step);
    }

    /// <summary>A guest access reached <paramref name="gfn"/> on a CPU-less node: a hint fault at the first access of a scan period, and a promotion if the page is hot. Returns where the page is now.</summary>
    internal ulong OnRemoteAccess(ulong gfn)
    {
        long remote = _k.Pages.Length - _k.Allocator.LocalPages;
        long i = (long)gfn - _k.Allocator.LocalPages;
        // Only the pages this period's scan set fault, and each once.
        long offset = i - _scanFrom;
        if (offset < 0) offset += remote;
        if (offset >= ScanPages) return gfn;
        if (i >= _lastHint.Length) Array.Resize(ref _lastHint, (int)Math.Max(i + 1, remote));
        if (_lastHint[i] == _period) return gfn;
        _lastHint[i] = _period;
        Counters.HintFaults++;
        _k.Stall(_k.Costs.GuestMinorFaultNs);
        if (_k.NowNs - _periodStartNs >= HotThresholdNs || _k.Pages.UseOf(gfn) != PageUse.Anon || _promoteBudget <= 0) return gfn;
        if (_k.Allocator.LocalFreePages() <= Watermarks().High || !_k.Allocator.TryTakeLocal(out ulong to))
        {
            Counters.PromoteRefused++;
            _refusedSinceStep++;
            _wakeForPromotion = true;
            return gfn;
        }
        if (!_k.MoveAnonPage(gfn, to))
        {
            _k.Allocator.Give(to);
            return gfn;
        }
        _k.Allocator.Give(gfn);
        _k.Stall(_k.Costs.PageCopyNs);
        _promoteBudget--;
        Counters.Promoted++;
        return to;
    }

    /// <summary>Once a step: a new scan period when one has passed, and kswapd's demotion when the CPUs' node is short.</summary>
    internal void Step(long nowNs)
    {
        if (nowNs - _periodStartNs >= ScanPeriodNs)
        {
            _periodStartNs = nowNs;
            _period++;
            long remote = Math.Max(1, _k.Pages.Length - _k.Allocator.LocalPages);
            _scanFrom = (_scanFrom + ScanPages) % remote;
            _promoteBudget = PromotePagesPerSecond * ScanPeriodNs / 1_000_000_000;
        }
        var (low, high, promo) = Watermarks();
        long free = _k.Allocator.LocalFreePages();
        if (free >= low && !_wakeForPromotion) return;
        long target = _wakeForPromotion ? promo + _refusedSinceStep : high;
        _wakeForPromotion = false;
        _refusedSinceStep = 0;
        if (free < target) Counters.Demoted += _k.Reclaimer.Demote(target - free);
    }
}
