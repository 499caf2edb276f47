namespace Memvisor.Guest.Balloon;

/// <summary>Self-ballooning settings (scenario key <c>selfballoon</c>), with Linux's xen-selfballoon defaults.</summary>
public sealed record SelfBalloonOptions
{
    public bool Enabled { get; init; }
    /// <summary>How often the goal is recomputed (selfballoon_interval, 5 s).</summary>
    public long IntervalNs { get; init; } = 5_000_000_000;
    /// <summary>The balloon moves down by (current - goal) / this each interval (selfballoon_downhysteresis, 8).</summary>
    public int DownHysteresis { get; init; } = 8;
    /// <summary>The balloon moves up by (goal - current) / this each interval (selfballoon_uphysteresis, 1).</summary>
    public int UpHysteresis { get; init; } = 1;
    /// <summary>Pages added to Committed_AS in the goal, room for caches (selfballoon_reserved_mb, 0).</summary>
    public long ReservePages { get; init; }
    /// <summary>The least usable memory (selfballoon_min_usable_mb); 0 takes Linux's piecewise-linear floor.</summary>
    public long MinUsablePages { get; init; }
}
