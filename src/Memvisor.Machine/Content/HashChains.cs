namespace Memvisor.Machine.Content;

/// <summary>
/// Ids chained by a 64-bit hash of the bytes they stand for: the one index behind every "which page holds these
/// bytes" in Memvisor (the content store's slots, the sharing scanner's and tmem's frames, analyze's contents). A
/// lookup walks the ids of a hash newest first; the caller confirms each by comparing bytes, since a hash alone
/// decides nothing. Ids are small integers (slots, mfns, entry numbers); the chains are arrays indexed by id, so a
/// walk allocates nothing.
/// </summary>
public sealed class HashChains
{
    /// <summary>The end of a chain, and what <see cref="First"/> returns for a hash no id has.</summary>
    public const int None = -1;
    private const int Absent = -2;

    private readonly Dictionary<ulong, int> _head = [];
    private readonly int _maxIds;
    private int[] _next = [];
    private ulong[] _hash = [];

    /// <param name="maxIds">Ids are below this (an mfn index passes the host's frame count), so the arrays never grow past it.</param>
    public HashChains(int maxIds = int.MaxValue) => _maxIds = maxIds;

    /// <summary>Ids in the index.</summary>
    public int Count { get; private set; }

    /// <summary>Bytes the chains hold: the per-id arrays and the heads.</summary>
    public long SizeInBytes => _next.LongLength * (sizeof(int) + sizeof(ulong)) + _head.Count * 24L;

    public bool Contains(int id) => (uint)id < (uint)_next.Length && _next[id] != Absent;

    /// <summary>The newest id with <paramref name="hash"/>, or <see cref="None"/>.</summary>
    public int First(ulong hash) => _head.TryGetValue(hash, out int id) ? id : None;

    /// <summary>The next older id with the same hash as <paramref name="id"/>, or <see cref="None"/>.</summary>
    public int Next(int id) => _next[id];

    public ulong HashOf(int id) => _hash[id];

    /// <summary>Adds <paramref name="id"/> (not in the index) at the head of its hash's chain.</summary>
    public void Add(int id, ulong hash)
    {
        if (id >= _next.Length) Grow(id);
        _hash[id] = hash;
        _next[id] = _head.TryGetValue(hash, out int head) ? head : None;
        _head[hash] = id;
        Count++;
    }

    /// <summary>Takes <paramref name="id"/> (in the index) out of its chain.</summary>
    public void Remove(int id)
    {
        ulong hash = _hash[id];
        int head = _head[hash];
        if (head == id)
        {
            if (_next[id] == None) _head.Remove(hash);
            else _head[hash] = _next[id];
        }
        else
        {
            int prev = head;
            while (_next[prev] != id) prev = _next[prev];
            _next[prev] = _next[id];
        }
        _next[id] = Absent;
        Count--;
    }

    private void Grow(int id)
    {
        int old = _next.Length;
        int size = Math.Min(Math.Max(id + 1, Math.Max(256, old * 2)), Math.Max(id + 1, _maxIds));
        Array.Resize(ref _next, size);
        Array.Resize(ref _hash, size);
        _next.AsSpan(old).Fill(Absent);
    }
}
