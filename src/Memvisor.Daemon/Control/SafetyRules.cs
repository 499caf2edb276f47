using Memvisor.Daemon.Vms;
using Memvisor.Policy;

namespace Memvisor.Daemon.Control;

/// <summary>
/// The daemon's safety rules, as operators of MOM and squeezed expect them: a balloon target never below the VM's
/// floor nor above what it can hold, and at most one step from what it holds now; no request to a VM that does not
/// answer or whose balloon is stuck. squeezed's stuck rule (xen-api's ocaml/squeezed/src/squeeze.ml): a VM asked to
/// shrink that makes no progress for some steps is left alone until it moves.
/// </summary>
public static class SafetyRules
{
    /// <summary>The target to set for a balloon asked to hold <paramref name="askedBytes"/>, and why it differs where it does.</summary>
    public static (long Bytes, string? Why) BoundTarget(long askedBytes, VmReading r, long floorBytes, DaemonOptions options)
    {
        long target = askedBytes;
        string? why = null;
        if (target < floorBytes)
        {
            target = floorBytes;
            why = $"raised to the floor, {Mib(floorBytes)} MiB";
        }
        if (target > r.MaxBytes)
        {
            target = r.MaxBytes;
            why = $"lowered to what the VM can hold, {Mib(r.MaxBytes)} MiB";
        }
        if (target < r.ActualBytes - options.MaxStepBytes)
        {
            target = r.ActualBytes - options.MaxStepBytes;
            why = $"limited to a step of {Mib(options.MaxStepBytes)} MiB below what it holds";
        }
        else if (target > r.ActualBytes + options.MaxStepBytes)
        {
            target = r.ActualBytes + options.MaxStepBytes;
            why = $"limited to a step of {Mib(options.MaxStepBytes)} MiB above what it holds";
        }
        return (target, why);
    }

    /// <summary>
    /// Updates the VM's stuck mark from a new reading: a VM that holds more than its target (squeezed's margin) and
    /// did not move down since the last reading has made no progress; after <see cref="DaemonOptions.StuckAfter"/>
    /// such steps it is stuck. A stuck VM whose balloon moves (by more than squeezed's margin, either way: it
    /// deflated on the guest's OOM, or its driver came) is no longer. Returns the change, if any, for the log.
    /// </summary>
    public static string? TrackProgress(VmState state, VmReading now, DaemonOptions options)
    {
        var before = state.Last;
        bool movedDown = before is not null && now.ActualBytes < before.ActualBytes;
        bool moved = before is not null && Math.Abs(now.ActualBytes - before.ActualBytes) / SnapshotBuilder.PageBytes > BalloonProgress.Margin(now.ActualBytes / SnapshotBuilder.PageBytes);
        bool asked = state.TargetBytes is { } t && BalloonProgress.AskedToShrink(now.ActualBytes / SnapshotBuilder.PageBytes, t / SnapshotBuilder.PageBytes);
        state.StepsWithoutProgress = asked && !movedDown ? state.StepsWithoutProgress + 1 : 0;
        if (state.Stuck && moved)
        {
            state.Stuck = false;
            state.StepsWithoutProgress = 0;
            return "moving";
        }
        if (!state.Stuck && state.StepsWithoutProgress >= options.StuckAfter)
        {
            state.Stuck = true;
            return "stuck";
        }
        return null;
    }

    /// <summary>Whether the guest's last statistics were sent no later than the daemon last asked its balloon to move or saw it move (so they may describe memory it no longer holds).</summary>
    public static bool StatsPredateTarget(VmState state) =>
        state.Last is { StatsSeen: true } r && state.Moves.Predate(r);

    /// <summary>Why no request may go to the VM now, or null.</summary>
    public static string? WhyLeftAlone(VmState state) =>
        state.Unresponsive ? $"the VM does not answer ({state.LastError})"
        : state.Stuck ? "the VM's balloon is stuck: it is left alone until it moves"
        : null;

    public static string Mib(long bytes) => (bytes / 1048576.0).ToString("0.##", System.Globalization.CultureInfo.InvariantCulture);
}
