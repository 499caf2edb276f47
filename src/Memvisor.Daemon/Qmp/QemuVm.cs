using System.Text.Json.Nodes;
using Memvisor.Daemon.Host;
using Memvisor.Daemon.Vms;

namespace Memvisor.Daemon.Qmp;

/// <summary>
/// A QEMU VM through its QMP socket: the balloon (query-balloon, balloon), the guest's statistics (the balloon
/// device's guest-stats, polled as QEMU's docs/interop/virtio-balloon-stats.rst describes), RAM
/// (query-memory-size-summary), virtio-mem (query-memory-devices, qom-set requested-size) and the QEMU process's
/// resident memory (its pid from the socket's peer credentials). The connection is made on first use and again
/// after any failure, so a QEMU that restarts is found again.
/// </summary>
public sealed class QemuVm(string socketPath, TimeSpan timeout, int statsPollSeconds, bool setStatsPolling = true) : IVm
{
    // No memory size QEMU reports is above this (1 PiB); a larger or negative one is not believed.
    private const long MostBytes = 1L << 50;
    private readonly Lock _gate = new();
    private QmpClient? _qmp;
    private int _connections;
    private int? _pid;
    // The guest-statistics polling interval as the daemon found it, put back when it lets the VM go.
    private long? _pollingBefore;
    private string? _balloonPath;
    private string? _name;
    private bool _deflateOnOom;

    public string Address => socketPath;

    /// <summary>QEMU's -name, or else the socket's file name without its extension; read at the first connection.</summary>
    public string Name => _name ??= Connected(q => NameOf(q));

    public VmReading Read() => Connected(q =>
    {
        var balloon = TryBalloon(q);
        var summary = q.Execute("query-memory-size-summary");
        long baseBytes = Size(summary["base-memory"]?.GetValue<long>() ?? 0, "base-memory"), plugged = Size(summary["plugged-memory"]?.GetValue<long>() ?? 0, "plugged-memory");
        if (balloon is { } actualBytes) Size(actualBytes, "query-balloon's actual");
        var stats = new Dictionary<string, long>();
        long lastUpdate = 0;
        if (balloon is not null && _balloonPath is not null)
        {
            var r = q.Execute("qom-get", new JsonObject { ["path"] = _balloonPath, ["property"] = "guest-stats" });
            if (r["stats"] is JsonObject s)
                foreach (var (k, v) in s)
                    if (v is JsonValue value && value.TryGetValue(out long n) && n >= 0) stats[k] = n;
            lastUpdate = r["last-update"]?.GetValue<long>() ?? 0;
        }
        int? pid = q.PeerPid;
        return new VmReading
        {
            Name = Name,
            // A QEMU started again behind the same socket is another VM to the safety rules: another process, or at least another connection.
            Incarnation = pid is { } p0 ? $"pid {p0}" : $"connection {_connections}",
            HasBalloon = balloon is not null,
            ActualBytes = balloon ?? baseBytes + plugged,
            BaseBytes = baseBytes,
            PluggedBytes = plugged,
            Stats = stats,
            // Statistics without the guest's available memory give it no floor: they count as none.
            StatsSeen = lastUpdate > 0 && stats.ContainsKey("stat-available-memory"),
            StatsUpdatedUnix = lastUpdate,
            BalloonInTotal = _deflateOnOom,
            VirtioMem = VirtioMem(q),
            Pid = pid,
            ProcessRssBytes = pid is { } p ? ProcessMemory.ResidentBytes(p) : null,
        };
    });

    public void SetBalloonTarget(long bytes) => Connected(q => q.Execute("balloon", new JsonObject { ["value"] = bytes }));

    public void SetVirtioMemRequested(long bytes) => Connected(q =>
    {
        var device = VirtioMem(q) ?? throw new QmpException($"{socketPath}: the VM has no virtio-mem device.");
        return q.Execute("qom-set", new JsonObject { ["path"] = $"/machine/peripheral/{device.Id}", ["property"] = "requested-size", ["value"] = bytes });
    });

    // One command at a time: a read the daemon gave up waiting for may still be running when it sets or lets go.
    private T Connected<T>(Func<QmpClient, T> action)
    {
        lock (_gate) return ConnectedLocked(action);
    }

    private T ConnectedLocked<T>(Func<QmpClient, T> action)
    {
        try
        {
            if (_qmp is null)
            {
                _qmp = QmpClient.Connect(socketPath, timeout);
                _connections++;
                if (_qmp.PeerPid != _pid)
                {
                    // Another QEMU behind the socket: its name and polling interval are its own.
                    _pid = _qmp.PeerPid;
                    _name = null;
                    _pollingBefore = null;
                }
                _balloonPath = FindBalloon(_qmp);
                _deflateOnOom = _balloonPath is not null && _qmp.Execute("qom-get", new JsonObject { ["path"] = _balloonPath, ["property"] = "deflate-on-oom" }) is JsonValue v && v.TryGetValue(out bool on) && on;
                if (_balloonPath is not null && statsPollSeconds > 0 && setStatsPolling)
                {
                    var before = _qmp.Execute("qom-get", new JsonObject { ["path"] = _balloonPath, ["property"] = "guest-stats-polling-interval" });
                    if (before is JsonValue b && b.TryGetValue(out long seconds) && seconds != statsPollSeconds)
                    {
                        _pollingBefore ??= seconds;
                        _qmp.Execute("qom-set", new JsonObject { ["path"] = _balloonPath, ["property"] = "guest-stats-polling-interval", ["value"] = statsPollSeconds });
                    }
                }
            }
            return action(_qmp);
        }
        catch (Exception e) when (e is QmpException or InvalidOperationException or FormatException)
        {
            // InvalidOperationException and FormatException: a value of another JSON type than QMP's schema gives.
            _qmp?.Dispose();
            _qmp = null;
            throw new VmUnreachableException(e.Message);
        }
    }

    private long Size(long bytes, string what) =>
        bytes is >= 0 and <= MostBytes ? bytes : throw new QmpException($"QEMU ({socketPath}) reported {what} as {bytes} bytes, which no VM holds.");

    private string NameOf(QmpClient q) =>
        q.Execute("query-name")["name"]?.GetValue<string>() is { Length: > 0 } n ? n : Path.GetFileNameWithoutExtension(socketPath);

    // query-balloon's actual, or null where the VM has no balloon device (QEMU's DeviceNotActive).
    private static long? TryBalloon(QmpClient q)
    {
        try
        {
            return q.Execute("query-balloon")["actual"]?.GetValue<long>();
        }
        catch (QmpException e) when (e.Message.Contains("DeviceNotActive", StringComparison.Ordinal))
        {
            return null;
        }
    }

    // The balloon device's QOM path: a device given an id sits under /machine/peripheral, one without under peripheral-anon.
    private static string? FindBalloon(QmpClient q)
    {
        foreach (var parent in new[] { "/machine/peripheral", "/machine/peripheral-anon" })
            if (q.Execute("qom-list", new JsonObject { ["path"] = parent }) is JsonArray children)
                foreach (var child in children.OfType<JsonObject>())
                    if (child["type"]?.GetValue<string>() is { } type && type.Contains("virtio-balloon", StringComparison.Ordinal))
                        return $"{parent}/{child["name"]}";
        return null;
    }

    private static VirtioMemReading? VirtioMem(QmpClient q)
    {
        if (q.Execute("query-memory-devices") is not JsonArray devices) return null;
        foreach (var d in devices.OfType<JsonObject>())
            if (d["type"]?.GetValue<string>() == "virtio-mem" && d["data"] is JsonObject data && data["id"]?.GetValue<string>() is { } id)
            {
                long Field(string key) => data[key]?.GetValue<long>() is long v and >= 0 and <= MostBytes ? v
                    : throw new QmpException($"QEMU reported virtio-mem {id}'s {key} as {data[key]?.ToJsonString() ?? "nothing"}, which is not a size.");
                return new VirtioMemReading(id, Field("size"), Field("requested-size"), Field("max-size"), Field("block-size"));
            }
        return null;
    }

    public void Dispose()
    {
        // A read still running on a QEMU that does not answer holds the gate for at most its timeout; past a second
        // the connection is closed under it instead, and the polling interval is left as it is.
        bool gate = _gate.TryEnter(TimeSpan.FromSeconds(1));
        try
        {
            if (gate && _qmp is not null && _pollingBefore is { } before && _balloonPath is not null)
            {
                try
                {
                    _qmp.Execute("qom-set", new JsonObject { ["path"] = _balloonPath, ["property"] = "guest-stats-polling-interval", ["value"] = before });
                }
                catch (Exception e) when (e is QmpException or InvalidOperationException or ObjectDisposedException)
                {
                    // The VM went away or answers nonsense; there is nothing to put back.
                }
            }
            _qmp?.Dispose();
            _qmp = null;
        }
        finally
        {
            if (gate) _gate.Exit();
        }
    }
}
