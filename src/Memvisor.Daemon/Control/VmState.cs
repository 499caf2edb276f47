using Memvisor.Daemon.Vms;

namespace Memvisor.Daemon.Control;

/// <summary>What the daemon keeps of one VM between steps: its last reading, the target it last asked for, and the safety rules' marks.</summary>
public sealed class VmState(IVm vm)
{
    public IVm Vm => vm;
    public string Name { get; set; } = vm.Address;
    /// <summary>The last reading that succeeded (its memory still counts against the host while the VM does not answer).</summary>
    public VmReading? Last { get; set; }
    /// <summary>The balloon target the daemon last asked for, or null before it has asked.</summary>
    public long? TargetBytes { get; set; }
    /// <summary>When its balloon last moved, as the daemon saw or asked it.</summary>
    public BalloonMoves Moves { get; private set; } = new();
    /// <summary>The floor in force at the last step.</summary>
    public long FloorBytes { get; set; }
    /// <summary>Consecutive steps in which the VM held more than its target and did not move down.</summary>
    public int StepsWithoutProgress { get; set; }
    /// <summary>Its balloon does not move (squeezed's stuck rule) or its policy gave up on it: left alone until it moves.</summary>
    public bool Stuck { get; set; }
    /// <summary>It did not answer at the last step.</summary>
    public bool Unresponsive { get; set; }
    public string? LastError { get; set; }

    /// <summary>Forgets what held for an earlier run of the VM: its target, floor and marks.</summary>
    public void Forget()
    {
        Last = null;
        TargetBytes = null;
        Moves = new();
        FloorBytes = 0;
        StepsWithoutProgress = 0;
        Stuck = false;
    }
}
