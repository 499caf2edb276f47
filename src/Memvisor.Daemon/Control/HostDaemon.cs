using System.Diagnostics;
using Memvisor.Daemon.Host;
using Memvisor.Daemon.Metrics;
using Memvisor.Daemon.Vms;
using Memvisor.Policy;
using Memvisor.Policy.Snapshot;

namespace Memvisor.Daemon.Control;

/// <summary>
/// The policy daemon on a real host: at every interval it reads each VM and the host, builds the snapshot the
/// simulator would give the policy, lets the policy decide, and carries out its actions within the safety rules,
/// logging each. It never resets what it set: stopped, it leaves every VM as it was asked last.
/// </summary>
public sealed class HostDaemon
{
    private readonly List<VmState> _vms;
    private readonly IPolicy _policy;
    private readonly DecisionLog _log;
    private readonly Func<MemInfo?> _hostMemory;
    private readonly Ksm? _ksm;
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public HostDaemon(IReadOnlyList<IVm> vms, IPolicy policy, DaemonOptions options, DecisionLog log, Func<MemInfo?> hostMemory, Ksm? ksm = null, DaemonMetrics? metrics = null)
    {
        _vms = [.. vms.Select(v => new VmState(v))];
        _policy = policy;
        Options = options;
        _log = log;
        _hostMemory = hostMemory;
        _ksm = ksm;
        Metrics = metrics ?? new DaemonMetrics();
    }

    /// <summary>The options in force; a new budget or floor takes effect at the next step.</summary>
    public DaemonOptions Options { get; set; }
    public DaemonMetrics Metrics { get; }
    public IReadOnlyList<VmState> Vms => _vms;
    public long Steps { get; private set; }

    /// <summary>After each step: its time in seconds from the daemon's start, the VMs as read, and what became of the policy's actions.</summary>
    public event Action<double, IReadOnlyList<VmState>, IReadOnlyList<ActionOutcome>>? Stepped;

    /// <summary>Steps every interval until <paramref name="stop"/> is cancelled (or <paramref name="maxSteps"/> are done), then logs the stop.</summary>
    public void Run(CancellationToken stop, long maxSteps = long.MaxValue)
    {
        _log.Start(_policy.Name, Options, _vms);
        var next = _clock.Elapsed;
        while (!stop.IsCancellationRequested && Steps < maxSteps)
        {
            Step();
            if (Steps >= maxSteps) break;
            next += Options.Interval;
            var wait = next - _clock.Elapsed;
            if (wait < TimeSpan.Zero) next = _clock.Elapsed;
            else if (stop.WaitHandle.WaitOne(wait)) break;
        }
        _log.Stop(stop.IsCancellationRequested ? "signal" : "steps done", Steps);
    }

    /// <summary>One interval's work: read, decide, act, log. Returns what became of the policy's actions.</summary>
    public IReadOnlyList<ActionOutcome> Step()
    {
        var started = _clock.Elapsed;
        Steps++;
        ReadVms();
        var ksm = Options.ControlKsm ? _ksm?.Read() : null;
        MemInfo? host = null;
        if (Options.HostMemoryBytes is null)
        {
            try
            {
                host = _hostMemory();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                _log.Error($"The host's memory could not be read: {e.Message}");
            }
        }
        var snapshot = SnapshotBuilder.Build(_vms, host, ksm, Options, (long)_clock.Elapsed.TotalNanoseconds);
        _log.Step(Steps, snapshot, _vms);
        IReadOnlyList<PolicyAction> actions;
        try
        {
            actions = snapshot.Domains.Count == 0 ? [] : _policy.Decide(snapshot);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A policy that fails (an external program that crashed) decides nothing this step; the VMs stay as they are.
            _log.Error($"The policy {_policy.Name} failed and decided nothing this step: {e.Message}");
            actions = [];
        }
        var outcomes = actions.Select(Carry).ToList();
        foreach (var o in outcomes) _log.Action(o);
        Metrics.Record(snapshot, _vms, ksm, outcomes, (_clock.Elapsed - started).TotalSeconds);
        Stepped?.Invoke(started.TotalSeconds, _vms, outcomes);
        return outcomes;
    }

    private void ReadVms()
    {
        for (int i = 0; i < _vms.Count; i++)
        {
            var state = _vms[i];
            try
            {
                var r = state.Vm.Read();
                if (state.Last is null) state.Name = UniqueName(r.Name, i);
                if (state.Unresponsive)
                {
                    state.Unresponsive = false;
                    _log.Vm("answering", state);
                }
                string? change = SafetyRules.TrackProgress(state, r, Options);
                state.Last = r;
                // Statistics the guest sent before the balloon last moved describe memory it no longer holds: until
                // fresh ones come, the floor may rise but not fall.
                long floor = SnapshotBuilder.FloorBytes(r, Options);
                state.FloorBytes = r.StatsUpdatedUnix <= state.TargetSetUnix ? Math.Max(state.FloorBytes, floor) : floor;
                if (change is not null) _log.Vm(change, state, change == "stuck" ? $"no progress toward its target in {state.StepsWithoutProgress} steps" : null);
            }
            catch (VmUnreachableException e)
            {
                state.LastError = e.Message;
                if (!state.Unresponsive) _log.Vm("unresponsive", state, e.Message);
                state.Unresponsive = true;
            }
        }
    }

    // Two VMs with one name (two QEMUs started with the same -name) get their position appended.
    private string UniqueName(string name, int index) =>
        _vms.Where((v, j) => j != index && v.Last is not null).Any(v => v.Name == name) ? $"{name}-{index + 1}" : name;

    private ActionOutcome Carry(PolicyAction a)
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
            if (!Options.ControlKsm) return Outcome(null, ActionResult.Unsupported, "KSM is not under the daemon's control (--ksm off)");
            if (_ksm is not { Present: true }) return Outcome(null, ActionResult.Unsupported, "this kernel has no KSM (no /sys/kernel/mm/ksm)");
            if (Options.DryRun) return Outcome(a.Value, ActionResult.DryRun, null);
            try
            {
                _ksm.SetRate(a.Value);
                return Outcome(a.Value, ActionResult.Applied, null);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                return Outcome(null, ActionResult.Failed, $"KSM could not be set: {e.Message}");
            }
        }
        if (a.Kind == PolicyActionKind.PagingTarget)
            return Outcome(null, ActionResult.Unsupported, "QEMU/KVM has no hypervisor paging to set a target for");
        var state = _vms.FirstOrDefault(v => v.Name == a.Domain && v.Last is not null);
        if (state is null) return Outcome(null, ActionResult.Refused, "no VM of that name");
        if (a.Kind == PolicyActionKind.MarkUncooperative)
        {
            if (!state.Stuck) _log.Vm("stuck", state, "the policy marked it uncooperative");
            state.Stuck = true;
            return Outcome(1, ActionResult.Applied, null);
        }
        if (SafetyRules.WhyLeftAlone(state) is { } alone) return Outcome(null, ActionResult.Refused, alone);
        var r = state.Last!;
        try
        {
            if (a.Kind == PolicyActionKind.HotAdd) return HotAdd(state, r, (long)asked, Outcome);
            if (!r.HasBalloon) return Outcome(null, ActionResult.Unsupported, "the VM has no balloon device");
            if (!r.StatsSeen && Options.FloorBytes == 0 && asked < r.ActualBytes)
                return Outcome(null, ActionResult.Refused, "the guest has sent no statistics, so its floor is unknown; give --floor to balloon it down anyway");
            var (target, why) = SafetyRules.BoundTarget((long)asked, r, state.FloorBytes, Options);
            if (Options.DryRun) return Outcome(target, ActionResult.DryRun, why);
            if (target == state.TargetBytes) return Outcome(target, ActionResult.Unchanged, why);
            state.Vm.SetBalloonTarget(target);
            state.TargetBytes = target;
            state.TargetSetUnix = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            return Outcome(target, why is null ? ActionResult.Applied : ActionResult.Clamped, why);
        }
        catch (VmUnreachableException e)
        {
            state.Unresponsive = true;
            state.LastError = e.Message;
            _log.Vm("unresponsive", state, e.Message);
            return Outcome(null, ActionResult.Failed, e.Message);
        }
    }

    // virtio-mem: the requested size rises by what the policy hot-adds, in whole blocks, up to the device's maximum.
    private ActionOutcome HotAdd(VmState state, VmReading r, long bytes, Func<double?, ActionResult, string?, ActionOutcome> outcome)
    {
        if (r.VirtioMem is not { } m) return outcome(null, ActionResult.Unsupported, "the VM has no virtio-mem device to plug memory into");
        long block = Math.Max(1, m.BlockBytes);
        long requested = Math.Min(m.MaxBytes, (m.RequestedBytes + bytes + block - 1) / block * block);
        string? why = requested < m.RequestedBytes + bytes ? $"limited to the device's maximum, {SafetyRules.Mib(m.MaxBytes)} MiB" : null;
        if (Options.DryRun) return outcome(requested, ActionResult.DryRun, why);
        if (requested == m.RequestedBytes) return outcome(requested, ActionResult.Unchanged, why);
        state.Vm.SetVirtioMemRequested(requested);
        return outcome(requested, why is null ? ActionResult.Applied : ActionResult.Clamped, why);
    }
}
