using Memvisor.Daemon.Vms;

namespace Memvisor.Tests.Daemon;

/// <summary>
/// A VM for the daemon's rule tests, without QEMU: its balloon moves toward the target it was given by up to
/// <see cref="Speed"/> bytes a reading (0: it ignores its balloon), it reports the statistics it is given, and it
/// can stop answering. It records every request.
/// </summary>
public sealed class FakeVm(string name, long maxBytes) : IVm
{
    public string Name => name;
    public string Address => $"/fake/{name}.qmp";
    public long MaxBytes => maxBytes;
    public long ActualBytes { get; set; } = long.MinValue;
    public long? TargetBytes { get; private set; }
    public long Speed { get; set; } = long.MaxValue;
    /// <summary>What the guest uses (its kernel and its processes); available is what it holds less this.</summary>
    public long UsedBytes { get; set; } = 64L << 20;
    public bool SendsStats { get; set; } = true;
    public bool Answers { get; set; } = true;
    /// <summary>The guest's statistics date from before the balloon last moved (it has not sent new ones).</summary>
    public bool StatsStale { get; set; }
    public List<long> BalloonRequests { get; } = [];
    /// <summary>Which run of the VM this is; a new value is the VM started again.</summary>
    public string Incarnation { get; set; } = "pid 1";
    public int? Pid { get; set; }

    /// <summary>The guest's balloon now aims at this, without a request from the daemon (it deflated on OOM).</summary>
    public void TargetBytesOverride(long bytes) => TargetBytes = bytes;

    public VmReading Read()
    {
        if (!Answers) throw new VmUnreachableException($"{Address} does not answer.");
        if (ActualBytes == long.MinValue) ActualBytes = maxBytes;
        if (TargetBytes is { } t)
            ActualBytes = t < ActualBytes ? Math.Max(t, ActualBytes - Speed) : Math.Min(t, ActualBytes + Math.Min(Speed, t - ActualBytes));
        var stats = SendsStats
            ? new Dictionary<string, long> { ["stat-available-memory"] = Math.Max(0, ActualBytes - UsedBytes), ["stat-free-memory"] = Math.Max(0, ActualBytes - UsedBytes), ["stat-total-memory"] = ActualBytes - (16L << 20) }
            : [];
        return new VmReading { Name = name, Incarnation = Incarnation, Pid = Pid, VirtioMem = VirtioMem, HasBalloon = true, ActualBytes = ActualBytes, BaseBytes = maxBytes, Stats = stats, StatsSeen = SendsStats,
            StatsUpdatedUnix = StatsStale ? 1 : DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1 };
    }

    public void SetBalloonTarget(long bytes)
    {
        if (!Answers) throw new VmUnreachableException($"{Address} does not answer.");
        BalloonRequests.Add(bytes);
        TargetBytes = bytes;
    }

    /// <summary>A virtio-mem device, where the test gives the VM one; its requested size follows the daemon's requests.</summary>
    public VirtioMemReading? VirtioMem { get; set; }

    public void SetVirtioMemRequested(long bytes) =>
        VirtioMem = VirtioMem is { } m ? m with { RequestedBytes = bytes } : throw new VmUnreachableException($"{Address} has no virtio-mem device.");

    public void Dispose()
    {
    }
}
