using System.Globalization;
using System.Text;
using Memvisor.Daemon.Control;
using Memvisor.Daemon.Host;
using Memvisor.Policy.Snapshot;

namespace Memvisor.Daemon.Metrics;

/// <summary>
/// The daemon's figures in Prometheus's text exposition format (version 0.0.4): per-VM and host gauges as of the last
/// step, and counters of steps and of actions by kind and result. Updated by the daemon's loop, read by the metrics
/// endpoint's thread.
/// </summary>
public sealed class DaemonMetrics
{
    private readonly object _lock = new();
    private readonly Dictionary<(string Kind, string Result), long> _actions = [];
    private string _gauges = "";
    private long _steps;

    public void Record(HostSnapshot host, IReadOnlyList<VmState> vms, KsmReading? ksm, IReadOnlyList<ActionOutcome> outcomes, double stepSeconds)
    {
        var g = new StringBuilder();
        Gauge(g, "memvisor_host_memory_bytes", "Host memory the daemon shares out (the budget, or MemTotal).", [("", host.TotalPages * SnapshotBuilder.PageBytes)]);
        Gauge(g, "memvisor_host_free_bytes", "Host memory free for VMs (the budget less what they hold, or MemAvailable).", [("", host.FreePages * SnapshotBuilder.PageBytes)]);
        if (ksm is not null)
        {
            Gauge(g, "memvisor_ksm_pages_per_second", "KSM's scan rate.", [("", ksm.PagesPerSecond)]);
            Gauge(g, "memvisor_ksm_pages_sharing", "Pages mapped to KSM's shared pages.", [("", ksm.PagesSharing)]);
        }
        Gauge(g, "memvisor_step_seconds", "Wall time of the last step.", [("", stepSeconds)]);
        var read = vms.Where(v => v.Last is not null).ToList();
        string L(VmState v) => $"vm=\"{Escape(v.Name)}\"";
        Gauge(g, "memvisor_vm_actual_bytes", "Memory the guest holds (query-balloon's actual).", [.. read.Select(v => (L(v), (double)v.Last!.ActualBytes))]);
        Gauge(g, "memvisor_vm_max_bytes", "Memory the VM can hold.", [.. read.Select(v => (L(v), (double)v.Last!.MaxBytes))]);
        Gauge(g, "memvisor_vm_target_bytes", "The balloon target the daemon last set.", [.. read.Where(v => v.TargetBytes is not null).Select(v => (L(v), (double)v.TargetBytes!.Value))]);
        Gauge(g, "memvisor_vm_floor_bytes", "The floor no target goes below.", [.. read.Select(v => (L(v), (double)v.FloorBytes))]);
        Gauge(g, "memvisor_vm_available_bytes", "Memory the guest reports available.", [.. read.Where(v => v.Last!.StatsSeen).Select(v => (L(v), (double)v.Last!.Stat("stat-available-memory")))]);
        Gauge(g, "memvisor_vm_free_bytes", "Memory the guest reports free.", [.. read.Where(v => v.Last!.StatsSeen).Select(v => (L(v), (double)v.Last!.Stat("stat-free-memory")))]);
        Family(g, "memvisor_vm_major_faults_total", "counter", "The guest's major faults since it booted (a restarted guest starts again from 0).", [.. read.Where(v => v.Last!.StatsSeen).Select(v => (L(v), (double)v.Last!.Stat("stat-major-faults")))]);
        Gauge(g, "memvisor_vm_process_resident_bytes", "The VM process's resident memory.", [.. read.Where(v => v.Last!.ProcessRssBytes is not null).Select(v => (L(v), (double)v.Last!.ProcessRssBytes!.Value))]);
        Gauge(g, "memvisor_vm_stuck", "1 while the VM's balloon is stuck and the daemon leaves it alone.", [.. vms.Select(v => (L(v), v.Stuck ? 1.0 : 0))]);
        Gauge(g, "memvisor_vm_unresponsive", "1 while the VM does not answer.", [.. vms.Select(v => (L(v), v.Unresponsive ? 1.0 : 0))]);
        lock (_lock)
        {
            _steps++;
            foreach (var o in outcomes)
            {
                var key = (o.Kind, DecisionLog.Name(o.Result));
                _actions[key] = _actions.GetValueOrDefault(key) + 1;
            }
            _gauges = g.ToString();
        }
    }

    /// <summary>The exposition text.</summary>
    public string Render()
    {
        lock (_lock)
        {
            var s = new StringBuilder(_gauges);
            s.Append("# HELP memvisor_steps_total Steps (decisions) the daemon has taken.\n# TYPE memvisor_steps_total counter\n");
            s.Append(CultureInfo.InvariantCulture, $"memvisor_steps_total {_steps}\n");
            s.Append("# HELP memvisor_actions_total The policy's actions, by kind and by what became of them.\n# TYPE memvisor_actions_total counter\n");
            foreach (var ((kind, result), n) in _actions.OrderBy(p => p.Key.Kind, StringComparer.Ordinal).ThenBy(p => p.Key.Result, StringComparer.Ordinal))
                s.Append(CultureInfo.InvariantCulture, $"memvisor_actions_total{{kind=\"{kind}\",result=\"{result}\"}} {n}\n");
            return s.ToString();
        }
    }

    private static void Gauge(StringBuilder s, string name, string help, IReadOnlyList<(string Labels, double Value)> samples) =>
        Family(s, name, "gauge", help, samples);

    private static void Family(StringBuilder s, string name, string type, string help, IReadOnlyList<(string Labels, double Value)> samples)
    {
        if (samples.Count == 0) return;
        s.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} {type}\n");
        foreach (var (labels, value) in samples)
            s.Append(CultureInfo.InvariantCulture, $"{name}{(labels.Length > 0 ? $"{{{labels}}}" : "")} {value.ToString("R", CultureInfo.InvariantCulture)}\n");
    }

    // Label values escape backslash, double quote and line feed (the exposition format's rules).
    private static string Escape(string v) => v.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
