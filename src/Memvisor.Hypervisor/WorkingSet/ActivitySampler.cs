using Memvisor.Machine.Randomness;

namespace Memvisor.Hypervisor.WorkingSet;

/// <summary>
/// ESX's statistical working-set estimator (Waldspurger, OSDI 2002): each period a random sample of the domain's
/// pages is watched (ESX invalidates their mappings so the next touch traps); the share touched by the period's end
/// estimates the share of the domain's memory in use. A fast and a slow moving average of it are kept, and the
/// estimate is the largest of the two and the period in progress, so that a rise is seen at once and a fall slowly.
/// </summary>
public sealed class ActivitySampler
{
    private const int Slots = 512;
    private readonly ActivityOptions _options;
    // The watched gfns (gfn + 1; 0 is empty), open addressing; a touched gfn is removed.
    private readonly ulong[] _watched = new ulong[Slots];
    // One bit per (gfn + 1) mod 8192, set for every watched gfn of the period: a touch of a page whose bit is clear,
    // nearly every touch, is no watched page's, and costs one load instead of a hash and a probe.
    private const int FilterWords = 128;
    private readonly ulong[] _filter = new ulong[FilterWords];
    private DeterministicRandom _rng;
    private long _elapsedNs;
    private int _sampled, _touched;

    internal ActivitySampler(ActivityOptions options, ulong seed)
    {
        _options = options;
        _rng = new DeterministicRandom(seed);
    }

    /// <summary>The fast and slow moving averages of the touched share; 1 until the first period ends (every page presumed active).</summary>
    public double Fast { get; private set; } = 1;
    public double Slow { get; private set; } = 1;
    public long Periods { get; private set; }

    /// <summary>The estimated share of the domain's pages in use: the largest of the averages and the period so far.</summary>
    public double ActiveShare
    {
        get
        {
            double current = _sampled == 0 ? 0 : (double)_touched / _sampled;
            return Math.Max(Math.Max(Fast, Slow), Periods == 0 ? 1 : current);
        }
    }

    /// <summary>A guest access to <paramref name="gfn"/>: counted if the page is being watched. Allocates nothing.</summary>
    internal void OnTouch(ulong gfn)
    {
        ulong key = gfn + 1;
        if ((_filter[(int)(key >> 6) & (FilterWords - 1)] & (1UL << (int)(key & 63))) == 0) return;
        int i = Slot(key);
        while (_watched[i] != 0)
        {
            if (_watched[i] == key)
            {
                _watched[i] = ulong.MaxValue; // a tombstone keeps the probe chain of the others
                _touched++;
                return;
            }
            i = (i + 1) & (Slots - 1);
        }
    }

    /// <summary>Advances the period; at its end folds the touched share into the averages and draws a new sample among the pages <paramref name="isPresent"/> says the domain has.</summary>
    internal void Step(long dtNs, ulong capacityGfns, Func<ulong, bool> isPresent)
    {
        _elapsedNs += dtNs;
        if (_sampled > 0 && _elapsedNs < _options.PeriodNs) return;
        if (_sampled > 0)
        {
            double share = (double)_touched / _sampled;
            bool first = Periods == 0;
            Fast = first ? share : Fast + _options.FastGain * (share - Fast);
            Slow = first ? share : Slow + _options.SlowGain * (share - Slow);
            Periods++;
        }
        Draw(capacityGfns, isPresent);
        _elapsedNs = 0;
    }

    private void Draw(ulong capacityGfns, Func<ulong, bool> isPresent)
    {
        Array.Clear(_watched);
        Array.Clear(_filter);
        _sampled = _touched = 0;
        int wanted = Math.Min(_options.SampleSize, Slots / 2);
        for (int tries = 0; tries < wanted * 8 && _sampled < wanted && capacityGfns > 0; tries++)
        {
            ulong gfn = _rng.NextBelow(capacityGfns);
            if (!isPresent(gfn)) continue;
            ulong key = gfn + 1;
            int i = Slot(key);
            while (_watched[i] != 0 && _watched[i] != key) i = (i + 1) & (Slots - 1);
            if (_watched[i] == key) continue;
            _watched[i] = key;
            _filter[(int)(key >> 6) & (FilterWords - 1)] |= 1UL << (int)(key & 63);
            _sampled++;
        }
    }

    private static int Slot(ulong key) => (int)(DeterministicRandom.Mix(key) & (Slots - 1));
}
