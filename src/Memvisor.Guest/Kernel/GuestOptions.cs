using Memvisor.Machine.Content;

namespace Memvisor.Guest.Kernel;

/// <summary>Settings of a guest kernel model.</summary>
public sealed record GuestOptions
{
    /// <summary>The OS image the guest boots: guests with the same image have identical kernel text.</summary>
    public uint ImageId { get; init; } = 1;
    /// <summary>Pages of kernel text written at boot (8 MiB by default).</summary>
    public long KernelTextPages { get; init; } = 2048;
    /// <summary>Class of the bytes workloads write.</summary>
    public ContentClass DataClass { get; init; } = ContentClass.Compressible;
    /// <summary>Pages per second the kernel gives back or takes on when its target moves (the balloon issue refines this).</summary>
    public double TargetPagesPerSecond { get; init; } = 262_144;
    /// <summary>Stream id for this guest's random choices (derived from the run seed).</summary>
    public ulong RandomStream { get; init; }
}
