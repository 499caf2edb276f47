using System.Text.Json.Nodes;

namespace Memvisor.Daemon.Qmp;

/// <summary>
/// A QEMU guest's virtio balloon through QMP: the memory the guest holds (query-balloon's actual), its target (the
/// balloon command), and the guest's own statistics, which QEMU polls once enabled on the device
/// (qom-set guest-stats-polling-interval, qom-get guest-stats; QEMU's docs/interop/virtio-balloon-stats.rst).
/// </summary>
public sealed class QemuBalloon(QmpClient qmp, string device = "/machine/peripheral/balloon0")
{
    /// <summary>Bytes of memory the guest holds: its RAM less what its balloon has inflated.</summary>
    public long ActualBytes() =>
        qmp.Execute("query-balloon")["actual"]?.GetValue<long>() ?? throw new QmpException($"query-balloon at {qmp.Path} gave no actual size.");

    /// <summary>Asks the guest to hold <paramref name="bytes"/> (its balloon moves toward it; a guest without the driver does not).</summary>
    public void SetTarget(long bytes) => qmp.Execute("balloon", new JsonObject { ["value"] = bytes });

    /// <summary>Starts QEMU polling the guest's statistics every <paramref name="seconds"/> (0 stops it).</summary>
    public void PollStats(int seconds) =>
        qmp.Execute("qom-set", new JsonObject { ["path"] = device, ["property"] = "guest-stats-polling-interval", ["value"] = seconds });

    /// <summary>The guest's last statistics (stat-free-memory, stat-available-memory, stat-major-faults, ...; -1 where the guest gave none) and when they were taken.</summary>
    public (IReadOnlyDictionary<string, long> Stats, long LastUpdate) Stats()
    {
        var r = qmp.Execute("qom-get", new JsonObject { ["path"] = device, ["property"] = "guest-stats" });
        var stats = new Dictionary<string, long>();
        if (r["stats"] is JsonObject s)
            foreach (var (k, v) in s)
                if (v is JsonValue value && value.TryGetValue(out long n)) stats[k] = n;
        return (stats, r["last-update"]?.GetValue<long>() ?? 0);
    }
}
