namespace Memvisor.Policy.Mom;

/// <summary>oVirt MOM's balloon and KSM rules' settings, with its defaults (scenario <c>policy: { name: mom, ... }</c>).</summary>
public sealed record MomOptions
{
    /// <summary>The host is under pressure when its free share is below this (pressure_threshold, 20%).</summary>
    public double PressureThreshold { get; init; } = 0.20;
    /// <summary>Critical below this share (5%): balloon steps double.</summary>
    public double CriticalThreshold { get; init; } = 0.05;
    /// <summary>A guest's target moves at most this share of its memory per decision (max_balloon_change_percent, 5%).</summary>
    public double MaxChange { get; init; } = 0.05;
    /// <summary>Under pressure a guest keeps at least this share of its memory available (min_guest_free_percent, 20%).</summary>
    public double MinGuestFree { get; init; } = 0.20;
    /// <summary>Without pressure a guest is grown back while it has less than this share available (max_guest_free_percent, 25%).</summary>
    public double MaxGuestFree { get; init; } = 0.25;
    /// <summary>KSM's pages per scan is raised by this under pressure (ksm_pages_boost) and lowered by the decay otherwise, within bounds; KSM sleeps 10 ms between scans.</summary>
    public int KsmPagesBoost { get; init; } = 300;
    public int KsmPagesDecay { get; init; } = 50;
    public int KsmPagesMin { get; init; } = 64;
    public int KsmPagesMax { get; init; } = 1250;
    public int KsmSleepMs { get; init; } = 10;
}
