using Memvisor.Policy;
using Memvisor.Sim.Engine;

namespace Memvisor.Sim.Metrics;

/// <summary>
/// Reclaim latency: from the moment a domain's target is set below what it holds (by a policy or the timeline)
/// until it holds no more than the target and a 1% (at least 1 MiB) margin. A request still unmet when another
/// lowers the target keeps its start; one unmet at the end of the run counts as unmet.
/// </summary>
public sealed class ReclaimLatency
{
    private readonly Dictionary<string, (long Target, long SinceNs)> _pending = [];
    private readonly Dictionary<string, long> _lastTarget = [];
    private readonly List<double> _metSeconds = [];

    public IReadOnlyList<double> MetSeconds => _metSeconds;
    public int Unmet => _pending.Count;

    public void Observe(long nowNs, IEnumerable<DomainRecord> records)
    {
        foreach (var r in records)
        {
            if (r.Spec is null) continue;
            if (r.State != DomainState.Running)
            {
                _pending.Remove(r.Name);
                continue;
            }
            var d = r.Domain!;
            long target = d.TargetPages, margin = BalloonProgress.Margin(target);
            bool changed = _lastTarget.TryGetValue(r.Name, out long last) && last != target;
            _lastTarget[r.Name] = target;
            if (changed && d.TotPages > target + margin && !_pending.ContainsKey(r.Name))
                _pending[r.Name] = (target, nowNs);
            if (_pending.TryGetValue(r.Name, out var p) && d.TotPages <= target + margin)
            {
                _metSeconds.Add((nowNs - p.SinceNs) / 1e9);
                _pending.Remove(r.Name);
            }
        }
    }

    /// <summary>The mean and the largest latency of the requests met, in seconds (0 when none was).</summary>
    public double MeanSeconds => _metSeconds.Count == 0 ? 0 : _metSeconds.Average();
    public double MaxSeconds => _metSeconds.Count == 0 ? 0 : _metSeconds.Max();
}
