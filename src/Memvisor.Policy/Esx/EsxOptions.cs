namespace Memvisor.Policy.Esx;

/// <summary>ESX's memory scheduler settings (scenario <c>policy: { name: esx, ... }</c>), with its defaults.</summary>
public sealed record EsxOptions
{
    /// <summary>The idle memory tax rate (Mem.IdleTax, 75%): an idle page costs a VM 1/(1-tax) times an active one.</summary>
    public double IdleTax { get; init; } = 0.75;
    /// <summary>Free-memory states as shares of host memory: high at or above 6%, soft above 4%, hard above 2%, low below.</summary>
    public double HighShare { get; init; } = 0.06;
    public double SoftShare { get; init; } = 0.04;
    public double HardShare { get; init; } = 0.02;
    /// <summary>Memory is reclaimed from the VM with the fewest shares per page this many pages at a time.</summary>
    public long ChunkPages { get; init; } = 256;
}
