using Memvisor.Machine.Randomness;

namespace Memvisor.Hypervisor.Paging;

/// <summary>One domain's paging state: its target, the clock hand, and the ring of recently paged-in gfns the pager leaves alone (xenpaging's MRU list).</summary>
public sealed class DomainPaging
{
    private readonly ulong[] _mru;
    private readonly HashSet<ulong> _recent = [];
    private int _next;

    internal DomainPaging(int mruSize, ushort domId)
    {
        _mru = new ulong[Math.Max(1, mruSize)];
        Rng = new DeterministicRandom(DeterministicRandom.Mix(0x9A61_4E5Eu ^ domId));
    }

    /// <summary>The random policy's stream (a field: it advances in place).</summary>
    internal DeterministicRandom Rng;

    /// <summary>tot_pages the pager evicts down to; -1 when paging is off for the domain.</summary>
    public long TargetPages { get; internal set; } = -1;
    internal ulong ClockHand { get; set; } = 1;
    internal double Credit { get; set; }

    public bool IsRecent(ulong gfn) => _recent.Contains(gfn);

    internal void RememberPagedIn(ulong gfn)
    {
        if (_recent.Contains(gfn)) return;
        // Every ring entry is in the set, so a full set means the ring is full and its oldest entry goes.
        if (_recent.Count == _mru.Length) _recent.Remove(_mru[_next]);
        _mru[_next] = gfn;
        _recent.Add(gfn);
        _next = (_next + 1) % _mru.Length;
    }
}
