namespace Memvisor.Guest.Hotplug;

/// <summary>Memory hot-plug settings (scenario key <c>hotplug</c>): memory above the boot size comes and goes in blocks.</summary>
public sealed record HotplugOptions
{
    public bool Enabled { get; init; }
    /// <summary>The block size in pages (128 MiB, Linux's memory block size on x86-64).</summary>
    public long BlockPages { get; init; } = 32_768;
    /// <summary>Blocks the guest plugs or unplugs per second at most.</summary>
    public double BlocksPerSecond { get; init; } = 8;
}
