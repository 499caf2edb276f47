namespace Memvisor.Policy.HyperV;

/// <summary>Hyper-V Dynamic Memory's host-wide settings (scenario <c>policy: { name: hyperv, ... }</c>).</summary>
public sealed record HyperVOptions
{
    /// <summary>Host memory kept for the root partition and free, in pages (64 MiB).</summary>
    public long ReservePages { get; init; } = 16_384;
}
