using Memvisor.Daemon.Vms;

namespace Memvisor.Daemon.Recording;

/// <summary>Collects samples of VMs (by their position) as they are read, by the recorder or by the daemon's steps, into a <see cref="Recording"/>.</summary>
public sealed class RecordingBuilder(int vmCount)
{
    private readonly List<RecordedSample>[] _samples = [.. Enumerable.Range(0, vmCount).Select(_ => new List<RecordedSample>())];
    // Beyond this many samples of a VM, every other one is dropped: a recording of any length stays bounded.
    private const int MaxSamples = 100_000;
    private readonly VmReading?[] _first = new VmReading?[vmCount];
    private readonly string?[] _names = new string?[vmCount];
    // When each VM's balloon last moved: statistics sent before that describe memory it no longer holds, so such a
    // sample records no use.
    private readonly BalloonMoves[] _moves = [.. Enumerable.Range(0, vmCount).Select(_ => new BalloonMoves())];
    private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;

    /// <summary>The first reading of each VM (null for one never read).</summary>
    public IReadOnlyList<VmReading?> First => _first;

    /// <summary>A sample of VM <paramref name="vm"/>; <paramref name="name"/> is the name the daemon knows it by (unique), else the VM's own.</summary>
    public void Add(double timeS, int vm, VmReading r, string? name = null)
    {
        _first[vm] ??= r;
        _names[vm] ??= name;
        _moves[vm].Observe(r);
        if (_samples[vm].Count >= MaxSamples)
        {
            var halved = _samples[vm].Where((_, i) => i % 2 == 0).ToList();
            _samples[vm].Clear();
            _samples[vm].AddRange(halved);
        }
        bool stats = r.UsedBytes is not null && !_moves[vm].Predate(r);
        long? available = stats ? r.Stat("stat-available-memory") : null;
        _samples[vm].Add(new RecordedSample(Math.Round(timeS, 3), r.ActualBytes, stats ? r.UsedBytes : null, available,
            stats ? r.Stat("stat-free-memory") : null, r.Stat("stat-major-faults"), r.Stat("stat-swap-in"), r.Stat("stat-swap-out"), r.ProcessRssBytes));
    }

    /// <summary>The recording of the VMs read at least once, in their order.</summary>
    public Recording Build(double intervalS, double durationS, long hostBytes, bool hostIsBudget) =>
        new(_started, intervalS, durationS, hostBytes, hostIsBudget,
            [.. _first.Select((f, v) => (f, v)).Where(x => x.f is not null).Select(x => new RecordedVm(_names[x.v] ?? x.f!.Name, x.f!.ActualBytes, x.f.MaxBytes, _samples[x.v]))]);
}
