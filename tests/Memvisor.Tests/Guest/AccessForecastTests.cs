using Memvisor.Guest.Workloads;
using Memvisor.Tests.Support.InMemory;

namespace Memvisor.Tests.Guest;

/// <summary>
/// The workloads' prefetch hints foretell their accesses: once a guest has warmed up (no faults), the pages a workload
/// announces ahead are exactly the pages it then accesses, in order, loads and stores alike.
/// </summary>
public class AccessForecastTests
{
    public static TheoryData<string> Workloads => ["steady", "phases", "grow-shrink"];

    private static IWorkload Make(string kind) => kind switch
    {
        "steady" => new SteadyWorkload(600, 20_000, 0.3),
        "phases" => new PhasesWorkload([new Phase(300, 150_000_000), new Phase(700, 150_000_000)], 20_000, 0.3),
        _ => new GrowShrinkWorkload("grow-shrink", 512, 1024, 1_000_000_000, repeat: false, 20_000, 0.3),
    };

    [Theory]
    [MemberData(nameof(Workloads))]
    public void The_pages_announced_ahead_are_the_pages_accessed(string kind)
    {
        var (memory, k) = GuestHost.Boot(8192, 0, Make(kind), configure: o => o with { ForecastAccesses = true });
        var mmu = (InMemoryGuestMmu)memory.Mmu;
        GuestHost.Run(k, 12);
        mmu.Announced = [];
        mmu.Translated = [];
        GuestHost.Run(k, 6, startNs: 12 * GuestHost.Tick);

        Assert.True(mmu.Translated.Count >= 6 * 1500, $"{kind}: only {mmu.Translated.Count} accesses in 600 ms.");
        Assert.Contains(mmu.Translated, a => a.Write);
        Assert.Contains(mmu.Translated, a => !a.Write);
        Assert.Equal(mmu.Translated, mmu.Announced);
    }

    [Fact]
    public void A_guest_not_asked_to_forecast_announces_nothing()
    {
        var (memory, k) = GuestHost.Boot(8192, 0, Make("steady"));
        var mmu = (InMemoryGuestMmu)memory.Mmu;
        mmu.Announced = [];
        mmu.Translated = [];
        GuestHost.Run(k, 6);
        Assert.NotEmpty(mmu.Translated);
        Assert.Empty(mmu.Announced);
    }
}
