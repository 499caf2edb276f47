using Memvisor.Daemon.Vms;

namespace Memvisor.Daemon.Recording;

/// <summary>Collects samples of VMs (by their position) as they are read, by the recorder or by the daemon's steps, into a <see cref="Recording"/>.</summary>
public sealed class RecordingBuilder(int vmCount)
{
    private readonly List<RecordedSample>[] _samples = [.. Enumerable.Range(0, vmCount).Select(_ => new List<RecordedSample>())];
    private readonly VmReading?[] _first = new VmReading?[vmCount];
    private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;

    /// <summary>The first reading of each VM (null for one never read).</summary>
    public IReadOnlyList<VmReading?> First => _first;

    public void Add(double timeS, int vm, VmReading r)
    {
        _first[vm] ??= r;
        bool stats = r.UsedBytes is not null;
        long? available = stats ? r.Stat("stat-available-memory") : null;
        _samples[vm].Add(new RecordedSample(Math.Round(timeS, 3), r.ActualBytes, r.UsedBytes, available,
            stats ? r.Stat("stat-free-memory") : null, r.Stat("stat-major-faults"), r.Stat("stat-swap-in"), r.Stat("stat-swap-out"), r.ProcessRssBytes));
    }

    /// <summary>The recording of the VMs read at least once, in their order.</summary>
    public Recording Build(double intervalS, double durationS, long hostBytes, bool hostIsBudget) =>
        new(_started, intervalS, durationS, hostBytes, hostIsBudget,
            [.. _first.Select((f, v) => (f, v)).Where(x => x.f is not null).Select(x => new RecordedVm(x.f!.Name, x.f.ActualBytes, x.f.MaxBytes, _samples[x.v]))]);
}
