namespace Memvisor.Policy.Squeezed;

/// <summary>squeezed's settings (scenario <c>policy: { name: squeezed, ... }</c>).</summary>
public sealed record SqueezedOptions
{
    /// <summary>Host memory kept free, in pages (64 MiB).</summary>
    public long ReservePages { get; init; } = 16_384;
    /// <summary>Decisions without progress after which a domain asked to shrink is stuck.</summary>
    public int StuckAfter { get; init; } = 2;
    /// <summary>Decisions stuck after which it is uncooperative and left out of the split.</summary>
    public int UncooperativeAfter { get; init; } = 4;
}
