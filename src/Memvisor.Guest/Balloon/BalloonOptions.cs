namespace Memvisor.Guest.Balloon;

/// <summary>The balloon driver's settings (scenario key <c>balloon</c>).</summary>
public sealed record BalloonOptions
{
    /// <summary>Whether the guest runs a balloon driver; without one it ignores memory/target.</summary>
    public bool Enabled { get; init; } = true;
    /// <summary>Pages per second the driver gives back or takes on (1 GiB/s by default).</summary>
    public double RatePagesPerSecond { get; init; } = 262_144;
    /// <summary>Pages the balloon never takes the guest below, on top of its kernel reserve (0: the kernel reserve only).</summary>
    public long FloorPages { get; init; }
}
