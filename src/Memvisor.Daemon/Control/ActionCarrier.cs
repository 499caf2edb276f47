using Memvisor.Daemon.Host;
using Memvisor.Daemon.Vms;
using Memvisor.Policy;

namespace Memvisor.Daemon.Control;

/// <summary>
/// Carries out a policy's actions on the VMs within the safety rules, and the daemon's own: a guest left below its
/// floor (it uses more than it holds less the headroom) is raised toward it when its policy did not move it.
/// </summary>
internal sealed class ActionCarrier(List<VmState> vms, VmReads reads, Ksm? ksm, DecisionLog log)
{
    public ActionOutcome Carry(PolicyAction a, DaemonOptions options)
    {
        string kind = a.Kind switch
        {
            PolicyActionKind.MemSet => "mem-set",
            PolicyActionKind.HotAdd => "hot-add",
            PolicyActionKind.SharingScanRate => "sharing-scan-rate",
            PolicyActionKind.PagingTarget => "paging-target",
            _ => "mark-uncooperative",
        };
        double asked = a.Kind is PolicyActionKind.MemSet or PolicyActionKind.HotAdd ? a.Value * SnapshotBuilder.PageBytes : a.Value;
        ActionOutcome Outcome(double? set, ActionResult result, string? why) => new(kind, a.Domain, asked, set, result, why);

        if (a.Kind == PolicyActionKind.SharingScanRate)
        {
            if (!options.ControlKsm) return Outcome(null, ActionResult.Unsupported, "KSM is not under the daemon's control (--ksm off)");
            if (ksm is not { Present: true }) return Outcome(null, ActionResult.Unsupported, "this kernel has no KSM (no /sys/kernel/mm/ksm)");
            if (options.DryRun) return Outcome(a.Value, ActionResult.DryRun, null);
            try
            {
                ksm.SetRate(a.Value);
                return Outcome(a.Value, ActionResult.Applied, null);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                return Outcome(null, ActionResult.Failed, $"KSM could not be set: {e.Message}");
            }
        }
        if (a.Kind == PolicyActionKind.PagingTarget)
            return Outcome(null, ActionResult.Unsupported, "QEMU/KVM has no hypervisor paging to set a target for");
        var state = vms.FirstOrDefault(v => v.Name == a.Domain && v.Last is not null);
        if (state is null) return Outcome(null, ActionResult.Refused, "no VM of that name");
        if (a.Kind == PolicyActionKind.MarkUncooperative)
        {
            if (!state.Stuck && !options.DryRun) reads.MarkStuck(state, "the policy marked it uncooperative");
            return Outcome(1, options.DryRun ? ActionResult.DryRun : ActionResult.Applied, null);
        }
        if (SafetyRules.WhyLeftAlone(state) is { } alone) return Outcome(null, ActionResult.Refused, alone);
        var r = state.Last!;
        try
        {
            if (a.Kind == PolicyActionKind.HotAdd) return HotAdd(state, r, (long)asked, options, Outcome);
            if (!r.HasBalloon) return Outcome(null, ActionResult.Unsupported, "the VM has no balloon device");
            if (asked < r.ActualBytes)
            {
                if (!r.StatsSeen && options.FloorBytes == 0)
                    return Outcome(null, ActionResult.Refused, "the guest has sent no statistics, so its floor is unknown; give --floor to balloon it down anyway");
                if (SafetyRules.StatsPredateTarget(state))
                    return Outcome(null, ActionResult.Refused, "the guest has sent no statistics since its balloon last moved, so its floor is not known yet");
            }
            return SetTarget(state, r, (long)asked, options, Outcome);
        }
        catch (VmUnreachableException e)
        {
            return Failed(state, e, Outcome);
        }
    }

    /// <summary>The daemon's own floor rule, after the policy's actions: each VM that holds less than its floor, and that no action of this step moved, is raised toward it.</summary>
    public IEnumerable<ActionOutcome> RaiseToFloors(IReadOnlyList<ActionOutcome> done, DaemonOptions options)
    {
        foreach (var state in vms)
        {
            if (state.Last is not { HasBalloon: true, StatsSeen: true } r || SafetyRules.WhyLeftAlone(state) is not null) continue;
            if (SafetyRules.StatsPredateTarget(state) || done.Any(o => o.Vm == state.Name && o.Kind == "mem-set")) continue;
            long margin = BalloonProgress.Margin(r.ActualBytes / SnapshotBuilder.PageBytes) * SnapshotBuilder.PageBytes;
            if (r.ActualBytes + margin >= state.FloorBytes || (state.TargetBytes ?? r.ActualBytes) >= state.FloorBytes) continue;
            ActionOutcome Outcome(double? set, ActionResult result, string? why) =>
                new("mem-set", state.Name, state.FloorBytes, set, result, why is null ? "the daemon's floor: the guest has less than the headroom available" : $"the daemon's floor; {why}");
            ActionOutcome outcome;
            try
            {
                outcome = SetTarget(state, r, state.FloorBytes, options, Outcome);
            }
            catch (VmUnreachableException e)
            {
                outcome = Failed(state, e, Outcome);
            }
            yield return outcome;
        }
    }

    private static ActionOutcome SetTarget(VmState state, VmReading r, long asked, DaemonOptions options, Func<double?, ActionResult, string?, ActionOutcome> outcome)
    {
        var (target, why) = SafetyRules.BoundTarget(asked, r, state.FloorBytes, options);
        if (options.DryRun) return outcome(target, ActionResult.DryRun, why);
        // A target within squeezed's margin (1 MiB or 1%) of the one set is noise in the guest's statistics, not a decision.
        if (state.TargetBytes is { } set && Math.Abs(target - set) / SnapshotBuilder.PageBytes <= BalloonProgress.Margin(set / SnapshotBuilder.PageBytes))
            return outcome(set, ActionResult.Unchanged, why ?? "within 1 MiB or 1% of the target set");
        state.Vm.SetBalloonTarget(target);
        state.TargetBytes = target;
        state.Moves.Asked();
        return outcome(target, why is null ? ActionResult.Applied : ActionResult.Clamped, why);
    }

    private ActionOutcome Failed(VmState state, VmUnreachableException e, Func<double?, ActionResult, string?, ActionOutcome> outcome)
    {
        state.Unresponsive = true;
        state.LastError = e.Message;
        log.Vm("unresponsive", state, e.Message);
        return outcome(null, ActionResult.Failed, e.Message);
    }

    // virtio-mem: the requested size rises by what the policy hot-adds, in whole blocks, up to the device's maximum.
    private static ActionOutcome HotAdd(VmState state, VmReading r, long bytes, DaemonOptions options, Func<double?, ActionResult, string?, ActionOutcome> outcome)
    {
        if (r.VirtioMem is not { } m) return outcome(null, ActionResult.Unsupported, "the VM has no virtio-mem device to plug memory into");
        long block = Math.Max(1, m.BlockBytes);
        long requested = Math.Min(m.MaxBytes, (m.RequestedBytes + bytes + block - 1) / block * block);
        string? why = requested < m.RequestedBytes + bytes ? $"limited to the device's maximum, {SafetyRules.Mib(m.MaxBytes)} MiB" : null;
        if (options.DryRun) return outcome(requested, ActionResult.DryRun, why);
        if (requested == m.RequestedBytes) return outcome(requested, ActionResult.Unchanged, why);
        state.Vm.SetVirtioMemRequested(requested);
        return outcome(requested, why is null ? ActionResult.Applied : ActionResult.Clamped, why);
    }
}
