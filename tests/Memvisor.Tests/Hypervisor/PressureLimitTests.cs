using Memvisor.Hypervisor.Tiers;

namespace Memvisor.Tests.Hypervisor;

/// <summary>Senpai's control law on a domain's limit (TMO's pressure-driven offloading): tighten slowly under the target, back off at once above it.</summary>
public class PressureLimitTests
{
    private const double Target = 10_000_000; // 10 ms

    [Fact]
    public void Under_the_target_the_limit_waits_probe_every_scans_then_tightens_by_at_most_one_percent()
    {
        var limit = new PressureLimit(100_000, stallNs: 0, probeEvery: 2);
        // (The default floor, Senpai's 100 MiB, is 25,600 frames: below these limits.)
        Assert.Equal(0, limit.Tick(0, 100_000, Target, 2));
        Assert.Equal(0, limit.Tick(0, 100_000, Target, 2));
        // No stall at all: the full step, 1% of the limit.
        Assert.Equal(-1, limit.Tick(0, 100_000, Target, 2));
        Assert.Equal(99_000, limit.Limit);
        // Stall of a fifth of the target since the last adjustment: (target / stall / 10)^2 = 0.25 of the full step.
        Assert.Equal(0, limit.Tick(Target / 10, 100_000, Target, 2));
        Assert.Equal(0, limit.Tick(Target / 10, 100_000, Target, 2));
        Assert.Equal(-1, limit.Tick(Target / 5, 100_000, Target, 2));
        Assert.Equal(99_000 - (long)Math.Round(99_000 * 0.0025), limit.Limit);
    }

    [Fact]
    public void At_the_target_the_limit_backs_off_at_once_more_steeply_further_above_it()
    {
        var limit = new PressureLimit(10_000, stallNs: 0, probeEvery: 6);
        // Twice the target: (2 / 20)^2 = 1% more.
        Assert.Equal(1, limit.Tick(2 * Target, 1_000_000, Target, 6, floorPages: 0));
        Assert.Equal(10_100, limit.Limit);
        // Twenty times the target or more: the limit doubles (max_backoff), but not past the domain's pages.
        Assert.Equal(1, limit.Tick(2 * Target + 40 * Target, 1_000_000, Target, 6, floorPages: 0));
        Assert.Equal(20_200, limit.Limit);
        Assert.Equal(1, limit.Tick(100 * Target, 25_000, Target, 6, floorPages: 0));
        Assert.Equal(25_000, limit.Limit);
    }

    [Fact]
    public void The_limit_stops_at_its_floor_and_a_small_limit_still_moves_a_frame_a_step()
    {
        var limit = new PressureLimit(60, stallNs: 0, probeEvery: 0);
        for (int i = 0; i < 5; i++) Assert.Equal(-1, limit.Tick(0, 60, Target, 0, floorPages: 57));
        // 1% of 60 frames rounds to one frame a step, down to the floor.
        Assert.Equal(57, limit.Limit);
    }
}
