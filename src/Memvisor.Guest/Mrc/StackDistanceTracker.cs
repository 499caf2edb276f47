using Memvisor.Machine.Randomness;

namespace Memvisor.Guest.Mrc;

/// <summary>
/// An online LRU stack-distance histogram of the guest's page references (the MEB work's miss-ratio curve), kept
/// cheap by SHARDS-style spatial sampling: a page is tracked if its hashed key falls in a 1/2^shift share of the key
/// space, and each tracked reference stands for 2^shift. The reuse distance of a reference is the number of distinct
/// tracked pages referenced since the page's last reference, found with a Fenwick tree over reference times. Counts
/// halve every half-life so the curve follows the workload's phases. Record allocates nothing.
/// </summary>
public sealed class StackDistanceTracker
{
    private readonly int _shift;
    private readonly int _capacity;
    private readonly int _keep;
    private readonly long _halfLifeNs;
    private readonly ulong[] _keys;   // hashed key (never 0), open addressing
    private readonly int[] _times;    // each key's last reference time
    private readonly int[] _tree;     // Fenwick tree: 1 at each live last-reference time
    private readonly ulong[] _keyAt;  // time -> hashed key whose last reference it is (0 if superseded)
    private readonly double[] _hits;
    private int _now;
    private long _sinceDecayNs;

    /// <param name="physicalPages">The largest memory the guest may have: distances beyond it count as cold.</param>
    /// <param name="bucketPages">Histogram bucket width in pages.</param>
    /// <param name="shift">Sample one key in 2^shift.</param>
    public StackDistanceTracker(long physicalPages, int bucketPages = 256, int shift = 4, long halfLifeNs = 5_000_000_000)
    {
        _shift = shift;
        BucketPages = bucketPages;
        _halfLifeNs = halfLifeNs;
        _hits = new double[(int)(physicalPages / bucketPages) + 1];
        // Keep twice the sampled keys the largest memory could hold; the table and tree have room for twice that.
        _keep = (int)Math.Max(1024, (physicalPages * 2) >> shift);
        _capacity = (int)Math.Min(1 << 30, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)(_keep * 2)));
        _keys = new ulong[_capacity * 2];
        _times = new int[_capacity * 2];
        _tree = new int[_capacity + 1];
        _keyAt = new ulong[_capacity + 1];
    }

    public int BucketPages { get; }
    public IReadOnlyList<double> Hits => _hits;
    public double Cold { get; private set; }
    public long HalfLifeNs => _halfLifeNs;
    /// <summary>References seen (all, sampled or not).</summary>
    public long References { get; private set; }

    /// <summary>A reference to the page named by <paramref name="key"/> (a process and virtual page, or a file and index).</summary>
    public void Record(ulong key)
    {
        References++;
        ulong h = DeterministicRandom.Mix(key);
        if (_shift > 0 && h >> (64 - _shift) != 0) return;
        h |= 1;
        double weight = 1 << _shift;
        int i = Find(h);
        if (_keys[i] == h)
        {
            int last = _times[i];
            long distance = ((long)(Prefix(_now) - Prefix(last))) << _shift;
            long bucket = distance / BucketPages;
            if (bucket < _hits.Length) _hits[bucket] += weight;
            else Cold += weight;
            Add(last, -1);
            _keyAt[last] = 0;
        }
        else
        {
            Cold += weight;
            _keys[i] = h;
        }
        if (_now == _capacity)
        {
            Compact();
            // The key's own last reference was superseded above, so compaction left it out: put it back.
            i = Find(h);
            _keys[i] = h;
        }
        int t = ++_now;
        Add(t, 1);
        _keyAt[t] = h;
        _times[i] = t;
    }

    /// <summary>Advances time: every half-life the histogram's counts halve.</summary>
    public void Advance(long dtNs)
    {
        _sinceDecayNs += dtNs;
        if (_sinceDecayNs < _halfLifeNs) return;
        _sinceDecayNs -= _halfLifeNs;
        for (int b = 0; b < _hits.Length; b++) _hits[b] *= 0.5;
        Cold *= 0.5;
    }

    /// <summary>References that would miss with <paramref name="pages"/> pages for the workload (the curve at that size).</summary>
    public double MissesAt(long pages)
    {
        double misses = Cold;
        for (long b = Math.Max(0, pages / BucketPages); b < _hits.Length; b++) misses += _hits[b];
        return misses;
    }

    // Renumbers the live last-reference times from 1, keeping the most recent _keep keys; older keys are forgotten.
    private void Compact()
    {
        Array.Clear(_keys);
        Array.Clear(_tree);
        int live = 0;
        for (int t = 1; t <= _now; t++) if (_keyAt[t] != 0) live++;
        int skip = Math.Max(0, live - _keep), next = 0;
        for (int t = 1; t <= _now; t++)
        {
            ulong h = _keyAt[t];
            if (h == 0) continue;
            _keyAt[t] = 0;
            if (skip > 0) { skip--; continue; }
            next++;
            _keyAt[next] = h;
            int i = Find(h);
            _keys[i] = h;
            _times[i] = next;
            Add(next, 1);
        }
        _now = next;
    }

    private int Find(ulong h)
    {
        int mask = _keys.Length - 1;
        int i = (int)(h & (ulong)mask);
        while (_keys[i] != 0 && _keys[i] != h) i = (i + 1) & mask;
        return i;
    }

    private void Add(int t, int delta)
    {
        for (; t <= _capacity; t += t & -t) _tree[t] += delta;
    }

    private int Prefix(int t)
    {
        int sum = 0;
        for (; t > 0; t -= t & -t) sum += _tree[t];
        return sum;
    }
}
