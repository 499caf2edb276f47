namespace Memvisor.Daemon.Vms;

/// <summary>What one VM's backend reported at an instant, in bytes: its balloon, its guest's statistics, its virtio-mem device and its process.</summary>
public sealed record VmReading
{
    public required string Name { get; init; }
    /// <summary>Which run of the VM this is (its process, or its connection); a new one means the VM was started again and what the daemon knew of it no longer holds.</summary>
    public string Incarnation { get; init; } = "";
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
    /// <summary>When the guest last sent them (Unix seconds; QEMU's last-update), 0 before.</summary>
    public long StatsUpdatedUnix { get; init; }
    /// <summary>The VM's virtio-mem device, where it has one.</summary>
    public VirtioMemReading? VirtioMem { get; init; }
    /// <summary>The resident memory of the VM's process (VmRSS), where it can be read.</summary>
    public long? ProcessRssBytes { get; init; }
    public int? Pid { get; init; }

    /// <summary>
    /// Whether the guest counts its inflated balloon in its total memory: Linux's virtio_balloon leaves the managed page
    /// count alone when the device deflates on OOM (VIRTIO_BALLOON_F_DEFLATE_ON_OOM), so the balloon then shows as used.
    /// </summary>
    public bool BalloonInTotal { get; init; }

    /// <summary>Memory the balloon holds: the VM's RAM less what the guest holds.</summary>
    public long BalloonBytes => Math.Max(0, BaseBytes + PluggedBytes - ActualBytes);

    /// <summary>Memory the guest's kernel manages of what it holds (its MemTotal, less the balloon where that counts it), or null before statistics.</summary>
    public long? ManagedBytes => StatsSeen && Stats.ContainsKey("stat-total-memory")
        ? Math.Max(0, Stat("stat-total-memory") - (BalloonInTotal ? BalloonBytes : 0))
        : null;

    /// <summary>What the guest uses of the memory it manages (not available to it: neither free nor reclaimable), or null before statistics.</summary>
    public long? UsedBytes => ManagedBytes is { } m && Stats.ContainsKey("stat-available-memory") ? Math.Max(0, m - Stat("stat-available-memory")) : null;

    /// <summary>What the guest holds that its kernel does not manage (its image, reserved ranges), or null before statistics.</summary>
    public long? KernelBytes => ManagedBytes is { } m ? Math.Max(0, ActualBytes - m) : null;

    /// <summary>The most the guest can hold: its base RAM and what is plugged, or what virtio-mem could plug.</summary>
    public long MaxBytes => BaseBytes + (VirtioMem is { } m ? m.MaxBytes : PluggedBytes);

    public long Stat(string name) => Stats.TryGetValue(name, out long v) && v >= 0 ? v : 0;
}

/// <summary>A virtio-mem device: its id, what is plugged, what the guest is asked to plug, and the most it can hold (QMP query-memory-devices).</summary>
public sealed record VirtioMemReading(string Id, long SizeBytes, long RequestedBytes, long MaxBytes, long BlockBytes);
