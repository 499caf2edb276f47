namespace Memvisor.Daemon.Control;

/// <summary>How the daemon runs: its interval, whether it acts, the host's memory budget and the safety rules' bounds.</summary>
public sealed record DaemonOptions
{
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Log every decision and action without carrying any out.</summary>
    public bool DryRun { get; init; }
    /// <summary>Treat the host as if it had this much memory for its VMs (free = budget less what the VMs hold); null reads /proc/meminfo.</summary>
    public long? HostMemoryBytes { get; init; }
    /// <summary>No VM's balloon target goes below this (0: only the guest's own floor).</summary>
    public long FloorBytes { get; init; }
    /// <summary>The guest's own floor is what it uses now (its memory less what it reports available) plus this.</summary>
    public long HeadroomBytes { get; init; } = 32L << 20;
    /// <summary>A target moves at most this far from what the VM holds in one step.</summary>
    public long MaxStepBytes { get; init; } = 128L << 20;
    /// <summary>Steps without progress toward a lower target after which a VM is marked stuck and left alone.</summary>
    public int StuckAfter { get; init; } = 3;
    /// <summary>Whether the policy may set KSM's rate (it needs root and the kernel's KSM).</summary>
    public bool ControlKsm { get; init; } = true;
}
