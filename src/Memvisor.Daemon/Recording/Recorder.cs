using System.Diagnostics;
using Memvisor.Daemon.Vms;

namespace Memvisor.Daemon.Recording;

/// <summary>
/// Samples VMs through the daemon's backends at a fixed interval for a while, without acting on them: what each holds
/// and what its guest reports it uses (its managed memory less what is available: the kernel's and its processes'
/// memory that cannot be reclaimed), available and free memory, major faults, swap and the VM process's RSS. A VM that
/// does not answer at a sample is left out of that sample; one that never answers is an error.
/// </summary>
public sealed class Recorder(IReadOnlyList<IVm> vms, TimeSpan interval)
{
    public Recording Record(TimeSpan duration, long hostBytes, bool hostIsBudget, CancellationToken stop, Action<double>? progress = null)
    {
        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        var samples = vms.Select(_ => new List<RecordedSample>()).ToArray();
        var first = new VmReading?[vms.Count];
        int count = (int)Math.Floor(duration / interval) + 1;
        for (int i = 0; i < count && !stop.IsCancellationRequested; i++)
        {
            var due = interval * i;
            var wait = due - clock.Elapsed;
            if (wait > TimeSpan.Zero && stop.WaitHandle.WaitOne(wait)) break;
            double t = Math.Round(due.TotalSeconds, 3);
            for (int v = 0; v < vms.Count; v++)
            {
                VmReading r;
                try
                {
                    r = vms[v].Read();
                }
                catch (VmUnreachableException)
                {
                    continue;
                }
                first[v] ??= r;
                bool stats = r.StatsSeen && r.Stats.ContainsKey("stat-available-memory") && r.Stats.ContainsKey("stat-total-memory");
                long? available = stats ? r.Stat("stat-available-memory") : null;
                samples[v].Add(new RecordedSample(t, r.ActualBytes, stats ? Math.Max(0, r.Stat("stat-total-memory") - available!.Value) : null, available,
                    stats ? r.Stat("stat-free-memory") : null, r.Stat("stat-major-faults"), r.Stat("stat-swap-in"), r.Stat("stat-swap-out"), r.ProcessRssBytes));
            }
            progress?.Invoke((double)(i + 1) / count);
        }
        for (int v = 0; v < vms.Count; v++)
            if (first[v] is null) throw new VmUnreachableException($"{vms[v].Address} did not answer at any sample, so it could not be recorded.");
        var recorded = vms.Select((vm, v) => new RecordedVm(first[v]!.Name, first[v]!.ActualBytes, first[v]!.MaxBytes, samples[v])).ToList();
        return new Recording(started, interval.TotalSeconds, clock.Elapsed.TotalSeconds, hostBytes, hostIsBudget, recorded);
    }
}
