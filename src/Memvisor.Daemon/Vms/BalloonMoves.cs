namespace Memvisor.Daemon.Vms;

/// <summary>
/// When a VM's balloon last moved, seen across its readings or asked for: statistics the guest sent no later than
/// that describe memory it no longer holds. QEMU's last-update is in whole seconds, so a report in the same second
/// counts as old.
/// </summary>
public sealed class BalloonMoves
{
    private long? _actual;

    /// <summary>The last move (Unix seconds), 0 before any.</summary>
    public long LastUnix { get; private set; }

    /// <summary>Notes a reading: what the VM holds changed since the one before is a move.</summary>
    public void Observe(VmReading r)
    {
        if (_actual is { } before && before != r.ActualBytes) LastUnix = Now;
        _actual = r.ActualBytes;
    }

    /// <summary>Notes that the balloon was just asked to move.</summary>
    public void Asked() => LastUnix = Now;

    /// <summary>Whether the reading's statistics were sent no later than the last move.</summary>
    public bool Predate(VmReading r) => LastUnix > 0 && r.StatsUpdatedUnix <= LastUnix;

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
}
