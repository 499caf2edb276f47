namespace Memvisor.Policy;

/// <summary>When a balloon has work to do, as squeezed judges it: the guest holds more than its target by over 256 pages (1 MiB) or 1% of the target.</summary>
public static class BalloonProgress
{
    public static bool AskedToShrink(long currentPages, long targetPages) =>
        currentPages > targetPages + Margin(targetPages);

    /// <summary>How far from a target a domain may be and still count as there: 256 pages (1 MiB) or 1% of the target.</summary>
    public static long Margin(long targetPages) => Math.Max(256, targetPages / 100);
}
