using Memvisor.Guest.Kernel;

namespace Memvisor.Guest.Balloon;

/// <summary>
/// Self-ballooning after Linux's drivers/xen/xen-selfballoon.c: every interval the goal is Committed_AS plus the
/// kernel's reserve (the high watermark) plus a configured reserve; the balloon target moves a fraction of the way
/// toward it, (current - goal) / downhysteresis down or (goal - current) / uphysteresis up, and never below a floor:
/// the configured minimum usable memory, or Linux's piecewise-linear one (about 3% of memory beyond 512 MiB).
/// </summary>
public sealed class SelfBalloon(GuestKernel k)
{
    private const long MiB = 256;
    private long _nextNs;

    public SelfBalloonOptions Options => k.Options.SelfBalloon;

    /// <summary>The goal of the last interval, in pages.</summary>
    public long GoalPages { get; private set; }

    public void Step(long nowNs)
    {
        if (nowNs < _nextNs) return;
        _nextNs = nowNs + Options.IntervalNs;
        long current = k.HeldPages;
        long reserve = k.Allocator.HighPages;
        GoalPages = k.MemInfo().CommittedAs + reserve + Options.ReservePages;
        long target = current;
        if (current > GoalPages) target = current - (current - GoalPages) / Math.Max(1, Options.DownHysteresis);
        else if (current < GoalPages) target = current + (GoalPages - current) / Math.Max(1, Options.UpHysteresis);
        target = Math.Max(target, Floor(reserve));
        if (target != k.Balloon.SelfTargetPages) k.Counters.SelfBalloonAdjustments++;
        k.Balloon.SetSelfTarget(target);
    }

    // selfballoon_min_usable_mb, or when it is zero a floor that keeps small guests whole and about 3% of a large one.
    private long Floor(long reserve)
    {
        if (Options.MinUsablePages > 0) return reserve + Options.MinUsablePages;
        long maxPfn = k.Hotplug?.AddressablePages ?? k.Pages.Length;
        long useful = maxPfn - reserve;
        if (useful < 16 * MiB) return maxPfn;
        if (useful < 64 * MiB) return reserve + 16 * MiB + (useful - 16 * MiB) / 2;
        if (useful < 512 * MiB) return reserve + 40 * MiB + (useful - 40 * MiB) / 8;
        return reserve + 99 * MiB + (useful - 99 * MiB) / 32;
    }
}
