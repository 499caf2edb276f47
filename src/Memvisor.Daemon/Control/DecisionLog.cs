using System.Text.Json;
using Memvisor.Daemon.Vms;
using Memvisor.Policy.Snapshot;

namespace Memvisor.Daemon.Control;

/// <summary>
/// The daemon's log: one JSON object a line (docs/daemon.md), each with its wall-clock time and event: start, step
/// (the host and every VM as read), action (each policy action and what became of it), stuck, moving, unresponsive,
/// answering, error and stop. Memory is in MiB, as xl gives it. Every line is flushed as written.
/// </summary>
public sealed class DecisionLog(TextWriter output, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly object _lock = new();

    public void Start(string policy, DaemonOptions options, IReadOnlyList<VmState> vms) => Line("start", w =>
    {
        w.WriteString("policy", policy);
        w.WriteNumber("interval_s", options.Interval.TotalSeconds);
        w.WriteBoolean("dry_run", options.DryRun);
        if (options.HostMemoryBytes is { } b) w.WriteNumber("host_memory_mib", Mib(b));
        w.WriteNumber("floor_mib", Mib(options.FloorBytes));
        w.WriteNumber("max_step_mib", Mib(options.MaxStepBytes));
        w.WriteStartArray("vms");
        foreach (var v in vms) w.WriteStringValue(v.Vm.Address);
        w.WriteEndArray();
    });

    public void Step(long step, HostSnapshot host, IReadOnlyList<VmState> vms) => Line("step", w =>
    {
        w.WriteNumber("step", step);
        w.WriteNumber("host_total_mib", Mib(host.TotalPages * SnapshotBuilder.PageBytes));
        w.WriteNumber("host_free_mib", Mib(host.FreePages * SnapshotBuilder.PageBytes));
        w.WriteNumber("ksm_pages_per_second", host.SharingScanRate);
        w.WriteStartArray("vms");
        foreach (var v in vms)
        {
            w.WriteStartObject();
            w.WriteString("name", v.Name);
            if (v.Last is { } r)
            {
                w.WriteNumber("actual_mib", Mib(r.ActualBytes));
                w.WriteNumber("max_mib", Mib(r.MaxBytes));
                if (v.TargetBytes is { } t) w.WriteNumber("target_mib", Mib(t));
                w.WriteNumber("floor_mib", Mib(v.FloorBytes));
                if (r.StatsSeen)
                {
                    w.WriteNumber("available_mib", Mib(r.Stat("stat-available-memory")));
                    w.WriteNumber("free_mib", Mib(r.Stat("stat-free-memory")));
                    w.WriteNumber("major_faults", r.Stat("stat-major-faults"));
                    w.WriteNumber("swap_in_mib", Mib(r.Stat("stat-swap-in")));
                    w.WriteNumber("swap_out_mib", Mib(r.Stat("stat-swap-out")));
                }
                if (r.ProcessRssBytes is { } rss) w.WriteNumber("rss_mib", Mib(rss));
                if (r.VirtioMem is { } m)
                {
                    w.WriteNumber("virtio_mem_plugged_mib", Mib(m.SizeBytes));
                    w.WriteNumber("virtio_mem_requested_mib", Mib(m.RequestedBytes));
                }
            }
            w.WriteBoolean("stuck", v.Stuck);
            w.WriteBoolean("unresponsive", v.Unresponsive);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    });

    public void Action(ActionOutcome a) => Line("action", w =>
    {
        w.WriteString("vm", a.Vm);
        w.WriteString("kind", a.Kind);
        bool memory = a.Kind is "mem-set" or "hot-add";
        w.WriteNumber(memory ? "asked_mib" : "asked", memory ? Mib((long)a.Asked) : a.Asked);
        if (a.Set is { } s) w.WriteNumber(memory ? "set_mib" : "set", memory ? Mib((long)s) : s);
        w.WriteString("result", Name(a.Result));
        if (a.Reason is not null) w.WriteString("reason", a.Reason);
    });

    public void Vm(string evt, VmState vm, string? detail = null) => Line(evt, w =>
    {
        w.WriteString("vm", vm.Name);
        if (vm.Last is { } r) w.WriteNumber("actual_mib", Mib(r.ActualBytes));
        if (vm.TargetBytes is { } t) w.WriteNumber("target_mib", Mib(t));
        if (detail is not null) w.WriteString("detail", detail);
    });

    public void Error(string message) => Line("error", w => w.WriteString("detail", message));

    public void Stop(string why, long steps) => Line("stop", w =>
    {
        w.WriteString("why", why);
        w.WriteNumber("steps", steps);
    });

    public static string Name(ActionResult r) => r switch
    {
        ActionResult.DryRun => "dry-run",
        _ => r.ToString().ToLowerInvariant(),
    };

    private static double Mib(long bytes) => Math.Round(bytes / 1048576.0, 2);

    private void Line(string evt, Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("time", _clock.GetUtcNow().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteString("event", evt);
            body(w);
            w.WriteEndObject();
        }
        lock (_lock)
        {
            output.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
            output.Flush();
        }
    }
}
