namespace Memvisor.Daemon.Vms;

/// <summary>What one VM's backend reported at an instant, in bytes: its balloon, its guest's statistics, its virtio-mem device and its process.</summary>
public sealed record VmReading
{
    public required string Name { get; init; }
    /// <summary>Memory the guest holds: its RAM less what its balloon has inflated (QMP query-balloon's actual).</summary>
    public long ActualBytes { get; init; }
    /// <summary>Whether the VM has a balloon device (a guest without the driver still has the device, and ignores it).</summary>
    public bool HasBalloon { get; init; }
    /// <summary>The RAM the VM was started with (QMP query-memory-size-summary's base-memory).</summary>
    public long BaseBytes { get; init; }
    /// <summary>Memory plugged beyond the base: virtio-mem's plugged size and DIMMs (plugged-memory).</summary>
    public long PluggedBytes { get; init; }
    /// <summary>The guest's statistics through its balloon (stat-free-memory, stat-available-memory, stat-major-faults, stat-swap-in, ...), only those it gave.</summary>
    public IReadOnlyDictionary<string, long> Stats { get; init; } = new Dictionary<string, long>();
    /// <summary>Whether the guest has ever sent statistics (QEMU's last-update is set once it has).</summary>
    public bool StatsSeen { get; init; }
    /// <summary>The VM's virtio-mem device, where it has one.</summary>
    public VirtioMemReading? VirtioMem { get; init; }
    /// <summary>The resident memory of the VM's process (VmRSS), where it can be read.</summary>
    public long? ProcessRssBytes { get; init; }
    public int? Pid { get; init; }

    /// <summary>The most the guest can hold: its base RAM and what is plugged, or what virtio-mem could plug.</summary>
    public long MaxBytes => BaseBytes + (VirtioMem is { } m ? m.MaxBytes : PluggedBytes);

    public long Stat(string name) => Stats.TryGetValue(name, out long v) && v >= 0 ? v : 0;
}

/// <summary>A virtio-mem device: its id, what is plugged, what the guest is asked to plug, and the most it can hold (QMP query-memory-devices).</summary>
public sealed record VirtioMemReading(string Id, long SizeBytes, long RequestedBytes, long MaxBytes, long BlockBytes);
