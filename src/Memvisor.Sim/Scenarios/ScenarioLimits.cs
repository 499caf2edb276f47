namespace Memvisor.Sim.Scenarios;

/// <summary>
/// The largest values a scenario may give, so that no number, however large, overflows or asks the simulator for a
/// run it cannot do; each bound is stated with its reason in docs/scenarios.md, "Limits".
/// </summary>
public static class ScenarioLimits
{
    /// <summary>A host of at most 4 TiB (and no more than this machine can model: <see cref="ScenarioChecks"/>).</summary>
    public const long MaxHostBytes = 4L << 40;

    /// <summary>Hosts in one scenario (hosts:).</summary>
    public const int MaxHosts = 64;

    /// <summary>Any other size (a domain's memory or maxmem, a swap device, a file): at most 16 TiB.</summary>
    public const long MaxSizeBytes = 16L << 40;

    /// <summary>A file a workload streams through: at most 1 TiB (its page index costs 4 bytes a page of this machine's memory).</summary>
    public const long MaxFileBytes = 1L << 40;

    /// <summary>A guest kernel needs its page tables, watermark and kernel text: a domain (and dom0) has at least 16 MiB.</summary>
    public const long MinDomainBytes = 16L << 20;

    /// <summary>A migration link's bandwidth: from 1 MiB/s (slower would take a page-sized guest hours) to 100 GiB/s.</summary>
    public const double MinLinkBytesPerSecond = 1 << 20, MaxLinkBytesPerSecond = 100.0 * (1L << 30);

    /// <summary>A scenario lasts at most 31 days of simulated time.</summary>
    public const long MaxDurationNs = 31L * 24 * 3600 * 1_000_000_000;

    /// <summary>A guest tick of at least 1 ms and at most 10 s.</summary>
    public const long MinTickNs = 1_000_000, MaxTickNs = 10_000_000_000;

    /// <summary>At most 100 million guest ticks (1,157 days at the default 100 ms tick): beyond that a run would take days of wall time.</summary>
    public const long MaxTicks = 100_000_000;

    /// <summary>A workload touches at most 100 million pages per simulated second (the simulator runs about 2 million a wall second).</summary>
    public const double MaxAccessRate = 1e8;

    /// <summary>Processes started per second by fork-exec: at most 10,000 (about what Linux forks a second on one core).</summary>
    public const double MaxSpawnRate = 1e4;

    /// <summary>Pages per second for the sharing scanner and the hypervisor pager: at most 100 million (400 GiB/s).</summary>
    public const double MaxPageRate = 1e8;

    /// <summary>Hot-plug blocks per second: at most 10,000.</summary>
    public const double MaxBlockRate = 1e4;

    /// <summary>
    /// Guests a scenario declares, counting every instance: at most Xen's domids 1 .. DOMID_FIRST_RESERVED - 1
    /// (xen/include/public/xen.h), 32,751. Checked before any per-instance work, so a 1 MiB file of count: 4096
    /// entries is refused at once rather than named instance by instance.
    /// </summary>
    public const int MaxDomains = Memvisor.Machine.Frames.DomIds.FirstReserved - 1;

    /// <summary>A balloon moves at most 1 TiB per second.</summary>
    public const double MaxBalloonBytesPerSecond = 1L << 40;
}
