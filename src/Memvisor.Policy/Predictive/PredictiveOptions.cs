namespace Memvisor.Policy.Predictive;

/// <summary>The predictive balancer's settings (scenario <c>policy: { name: predictive, ... }</c>).</summary>
public sealed record PredictiveOptions
{
    /// <summary>Host memory kept free, in pages (64 MiB).</summary>
    public long ReservePages { get; init; } = 16_384;
    /// <summary>Memory is handed out this many pages at a time (1 MiB).</summary>
    public long ChunkPages { get; init; } = 256;
    /// <summary>Targets move only by more than this share (2%), so that noise in the curves does not churn the balloons.</summary>
    public double Hysteresis { get; init; } = 0.02;
    /// <summary>Below this free share of the host, sharing is sped up to its boost rate (pages per second) before anything is swapped.</summary>
    public double PressureShare { get; init; } = 0.10;
    public double SharingBoostRate { get; init; } = 20_000;
}
