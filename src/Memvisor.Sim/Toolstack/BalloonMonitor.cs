using Memvisor.Seam;
using Memvisor.Machine.Frames;
using Memvisor.Policy;
using Memvisor.Sim.Engine;
using Memvisor.Hypervisor;

namespace Memvisor.Sim.Toolstack;

/// <summary>
/// Watches the balloons as XenServer's squeezed does: once a second it compares each ballooning guest's
/// memory/current with memory/target. A guest asked to give memory back that has not moved toward its target for
/// <see cref="StuckAfterSeconds"/> is stuck; after <see cref="UncooperativeAfterSeconds"/> the toolstack writes
/// memory/uncooperative, and removes it once the guest moves again or reaches its target.
/// </summary>
public sealed class BalloonMonitor(Host hv)
{
    public const int StuckAfterSeconds = 5;
    public const int UncooperativeAfterSeconds = 20;
    private const long IntervalNs = 1_000_000_000;

    private readonly Dictionary<ushort, (long LastKiB, int StuckSeconds)> _seen = [];
    private long _nextNs = IntervalNs;

    /// <summary>Times a guest was found stuck.</summary>
    public long StuckEvents { get; private set; }
    /// <summary>Times the toolstack marked a guest uncooperative.</summary>
    public long UncooperativeEvents { get; private set; }

    public void Step(long nowNs, IReadOnlyList<DomainRecord> records)
    {
        if (nowNs < _nextNs) return;
        _nextNs = nowNs + IntervalNs;
        foreach (var r in records)
        {
            if (r.State != DomainState.Running || r.Domain is not { } d) continue;
            string Path(string key) => Host.StorePath(d, key);
            if (hv.Store.ReadLong(Path(StoreKeys.FeatureBalloon), 0) != 1) continue;
            long target = hv.Store.ReadLong(Path(StoreKeys.Target), 0), current = hv.Store.ReadLong(Path(StoreKeys.Current), target);
            var (last, stuck) = _seen.GetValueOrDefault(d.DomId, (current, 0));
            bool asked = BalloonProgress.AskedToShrink(current / PageSize.KiB, target / PageSize.KiB);
            bool moved = current < last - PageSize.KiB;
            stuck = asked && !moved ? stuck + 1 : 0;
            _seen[d.DomId] = (current, stuck);
            if (stuck == StuckAfterSeconds)
            {
                StuckEvents++;
                hv.Events.Add("balloon", d.Name, $"The balloon is stuck: the guest holds {current / 1024} MiB against a target of {target / 1024} MiB and has not moved for {StuckAfterSeconds} s.");
            }
            else if (stuck == UncooperativeAfterSeconds)
            {
                UncooperativeEvents++;
                hv.Store.Write(Path(StoreKeys.Uncooperative), 1);
                hv.Events.Add("balloon", d.Name, $"The guest is marked uncooperative after {UncooperativeAfterSeconds} s without progress toward its target.");
            }
            else if (stuck == 0 && hv.Store.Remove(Path(StoreKeys.Uncooperative)))
            {
                hv.Events.Add("balloon", d.Name, "The guest's balloon moves again; it is no longer marked uncooperative.");
            }
        }
    }
}
