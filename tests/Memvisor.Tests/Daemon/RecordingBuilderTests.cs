using Memvisor.Daemon.Recording;
using Memvisor.Daemon.Vms;

namespace Memvisor.Tests.Daemon;

/// <summary>What a recording keeps of each sample: the guest's use only from statistics sent after its balloon last moved.</summary>
public sealed class RecordingBuilderTests
{
    private const long Mib = 1 << 20;

    private static VmReading Reading(long actualMib, long availableMib, long statsUnix) => new()
    {
        Name = "a", HasBalloon = true, ActualBytes = actualMib * Mib, BaseBytes = 256 * Mib, StatsSeen = true, StatsUpdatedUnix = statsUnix,
        Stats = new Dictionary<string, long> { ["stat-total-memory"] = (actualMib - 30) * Mib, ["stat-available-memory"] = availableMib * Mib, ["stat-free-memory"] = availableMib * Mib },
    };

    [Fact]
    public void A_sample_whose_statistics_predate_a_balloon_move_records_no_use()
    {
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var builder = new RecordingBuilder(1);
        builder.Add(0, 0, Reading(256, 200, now - 5));
        // The balloon moved to 200 MiB; the guest's last report is still the one from before.
        builder.Add(1, 0, Reading(200, 200, now - 5));
        // A report from after the move.
        builder.Add(2, 0, Reading(200, 144, now + 1));
        var samples = builder.Build(1, 2, 1024 * Mib, true).Vms[0].Samples;
        Assert.Equal([26 * Mib, null, 26 * Mib], samples.Select(x => x.UsedBytes));
    }
}
