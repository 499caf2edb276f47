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
        var clock = Stopwatch.StartNew();
        var builder = new RecordingBuilder(vms.Count);
        int count = (int)Math.Floor(duration / interval) + 1;
        for (int i = 0; i < count && !stop.IsCancellationRequested; i++)
        {
            var due = interval * i;
            var wait = due - clock.Elapsed;
            if (wait > TimeSpan.Zero && stop.WaitHandle.WaitOne(wait)) break;
            // A VM that does not answer (its monitor taken by another client) costs a timeout: never past the duration.
            if (clock.Elapsed > duration + interval) break;
            // A VM that does not answer is left out of this sample; the others are kept.
            if (VmReader.ReadAll(vms, stop) is not { } readings) break;
            for (int v = 0; v < vms.Count; v++)
                if (readings[v].Reading is { } r) builder.Add(due.TotalSeconds, v, r);
            progress?.Invoke((double)(i + 1) / count);
        }
        for (int v = 0; v < vms.Count; v++)
            if (builder.First[v] is null)
                throw new VmUnreachableException($"{vms[v].Address} did not answer at any sample, so it could not be recorded. A QEMU monitor serves one client at a time: if a daemon holds this socket, give the VM a second -qmp socket for record");
        return builder.Build(interval.TotalSeconds, clock.Elapsed.TotalSeconds, hostBytes, hostIsBudget);
    }
}
