using Memvisor.Daemon.Vms;

namespace Memvisor.Daemon.Control;

/// <summary>
/// Reads every VM at the start of a step, all at once (<see cref="VmReader"/>), and folds the readings into what the daemon knows: a VM started again forgets its target and
/// marks, names stay unique, the same QEMU reached through two sockets is driven through the first only, and
/// squeezed's stuck rule is applied.
/// </summary>
internal sealed class VmReads(List<VmState> vms, DecisionLog log)
{
    /// <summary>Reads the VMs; false if <paramref name="stop"/> came first (the readings are then dropped).</summary>
    public bool ReadAll(DaemonOptions options, CancellationToken stop)
    {
        if (VmReader.ReadAll([.. vms.Select(v => v.Vm)], stop) is not { } results) return false;
        for (int i = 0; i < vms.Count; i++)
        {
            var (r, error) = results[i];
            if (r is null) Unanswered(vms[i], error!);
            else Answered(i, r, options);
        }
        return true;
    }

    private void Unanswered(VmState state, string error)
    {
        state.LastError = error;
        if (!state.Unresponsive) log.Vm("unresponsive", state, error);
        state.Unresponsive = true;
    }

    private void Answered(int index, VmReading r, DaemonOptions options)
    {
        var state = vms[index];
        if (state.Last is null || state.Last.Incarnation != r.Incarnation)
        {
            bool again = state.Last is not null;
            state.Name = UniqueName(r.Name, index);
            state.Forget();
            if (again) log.Vm("restarted", state, $"a new run of the VM ({r.Incarnation}): its target and marks are forgotten");
        }
        var twin = vms.Take(index).FirstOrDefault(v => v.Last is not null && r.Pid is not null && v.Last.Pid == r.Pid && !v.Unresponsive);
        if (twin is not null)
        {
            Unanswered(state, $"{state.Vm.Address} reaches the same QEMU (pid {r.Pid}) as {twin.Vm.Address}; the VM is driven through that one only");
            return;
        }
        if (state.Unresponsive)
        {
            state.Unresponsive = false;
            log.Vm("answering", state);
        }
        string? change = SafetyRules.TrackProgress(state, r, options);
        state.Moves.Observe(r);
        state.Last = r;
        // Statistics the guest sent before its balloon last moved describe memory it no longer holds: until fresh ones
        // come, the floor may rise but not fall.
        long floor = SnapshotBuilder.FloorBytes(r, options);
        state.FloorBytes = SafetyRules.StatsPredateTarget(state) ? Math.Max(state.FloorBytes, floor) : floor;
        if (change == "stuck") MarkStuck(state, $"no progress toward its target in {state.StepsWithoutProgress} steps");
        else if (change is not null) log.Vm(change, state);
    }

    /// <summary>
    /// Marks a VM stuck and takes back the request it does not carry out: its target becomes what it holds, so that
    /// a balloon that starts working later does not shrink it behind the policy's back.
    /// </summary>
    public void MarkStuck(VmState state, string why)
    {
        state.Stuck = true;
        if (state.Last is { HasBalloon: true } r && state.TargetBytes != r.ActualBytes && !state.Unresponsive)
        {
            try
            {
                state.Vm.SetBalloonTarget(r.ActualBytes);
                state.TargetBytes = r.ActualBytes;
                state.Moves.Asked();
            }
            catch (VmUnreachableException e)
            {
                Unanswered(state, e.Message);
            }
        }
        log.Vm("stuck", state, why);
    }

    // A name no other VM has: two QEMUs started with one -name get their position appended, and again if that is taken.
    private string UniqueName(string name, int index)
    {
        bool Taken(string n) => vms.Where((v, j) => j != index && v.Last is not null).Any(v => v.Name == n);
        if (!Taken(name)) return name;
        string candidate = $"{name}-{index + 1}";
        for (int k = 2; Taken(candidate); k++) candidate = $"{name}-{index + 1}-{k}";
        return candidate;
    }
}
