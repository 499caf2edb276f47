namespace Memvisor.Hypervisor.Tiers;

/// <summary>
/// TMO's pressure-driven offloading (Weiner et al., "TMO: Transparent Memory Offloading in Datacenters", ASPLOS'22),
/// with Senpai's control law (facebookincubator/oomd, src/oomd/plugins/Senpai.cpp, tick()) applied per domain to the
/// frames it may keep on its own (fast) node: while the stall its pages on slower memory cost it since the last
/// adjustment stays under the target, the limit waits <c>probe_every</c> scans after each adjustment and then tightens, by
/// at most max_probe and less the closer the stall is to the target; once the stall reaches the target the limit backs off at once, by more the
/// further above it is. Pages above the limit are offloaded (demoted) cold ones first.
/// </summary>
public sealed class PressureLimit
{
    // Senpai's defaults (Senpai.h): the largest tightening and backing off of one adjustment, and the deviations at which they are reached.
    public const double MaxProbe = 0.01, MaxBackoff = 1.0, CoeffProbe = 10, CoeffBackoff = 20;
    /// <summary>Senpai's limit_min_bytes (100 MiB) in 4 KiB frames: the default floor of the limit.</summary>
    public const long DefaultFloorPages = 100L << 20 >> 12;

    /// <summary>The frames the domain may keep on its own node.</summary>
    public long Limit { get; private set; }
    private double _lastStallNs, _cumulativeNs;
    private int _ticks;

    public PressureLimit(long pages, double stallNs, int probeEvery) =>
        (Limit, _lastStallNs, _ticks) = (pages, stallNs, probeEvery);

    /// <summary>One scan: the domain's slow-memory stall so far and its pages; returns +1 when the limit backed off, -1 when it tightened, 0 when it waited.</summary>
    /// <param name="floorPages">The limit never goes below this many frames (or the domain's pages, if fewer).</param>
    public int Tick(double stallNs, long pages, double targetNs, int probeEvery, long floorPages = DefaultFloorPages)
    {
        _cumulativeNs += stallNs - _lastStallNs;
        _lastStallNs = stallNs;
        double factor;
        int moved;
        if (_cumulativeNs >= targetNs)
        {
            // Too much stall: back off, more steeply the further above the target.
            double error = _cumulativeNs / targetNs / CoeffBackoff;
            factor = Math.Min(error * error * MaxBackoff, MaxBackoff);
            moved = 1;
        }
        else if (_ticks > 0)
        {
            _ticks--;
            return 0;
        }
        else
        {
            // Little stall: tighten, more steeply the further below the target (1 us stands in for none).
            double error = targetNs / Math.Max(_cumulativeNs, 1000) / CoeffProbe;
            factor = -Math.Min(error * error * MaxProbe, MaxProbe);
            moved = -1;
        }
        // Senpai moves a byte count; in frames an adjustment moves at least one.
        long delta = (long)Math.Round(Limit * factor);
        if (delta == 0) delta = moved;
        Limit = Math.Clamp(Limit + delta, Math.Min(floorPages, pages), Math.Max(pages, 1));
        _ticks = probeEvery;
        _cumulativeNs = 0;
        return moved;
    }
}
