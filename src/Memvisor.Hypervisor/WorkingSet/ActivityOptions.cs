namespace Memvisor.Hypervisor.WorkingSet;

/// <summary>The working-set sampler's settings: pages sampled per period and the period (ESX: Mem.SamplePeriod).</summary>
public sealed record ActivityOptions
{
    /// <summary>Pages sampled per period per domain (ESX samples 100).</summary>
    public int SampleSize { get; init; } = 100;
    /// <summary>The sample period in ns. ESX's is 60 s; Memvisor's scenarios run minutes, so 20 s.</summary>
    public long PeriodNs { get; init; } = 20_000_000_000;
    /// <summary>Weight of a new period in the fast and the slow moving average.</summary>
    public double FastGain { get; init; } = 0.5;
    public double SlowGain { get; init; } = 0.125;
}
