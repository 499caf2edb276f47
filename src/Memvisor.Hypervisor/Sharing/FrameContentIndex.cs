using Memvisor.Machine;
using Memvisor.Machine.Frames;

namespace Memvisor.Hypervisor.Sharing;

/// <summary>
/// Frames indexed by the hash of their bytes, for finding a frame that holds given bytes: the sharing scanner's
/// stable tree and tmem's deduplication. Every hit is confirmed by a full byte compare; a hash alone decides nothing.
/// </summary>
internal sealed class FrameContentIndex(MachineMemory machine)
{
    public const uint None = uint.MaxValue;

    private readonly Dictionary<ulong, uint> _head = [];
    private readonly Dictionary<uint, (ulong Hash, uint Next)> _links = [];
    private readonly byte[] _scratch = new byte[PageSize.Bytes];

    public int Count => _links.Count;

    public bool Contains(uint mfn) => _links.ContainsKey(mfn);

    /// <summary>A frame with this hash whose bytes equal <paramref name="page"/> and whose reference count is below <paramref name="maxRefs"/>; <see cref="None"/> if there is none.</summary>
    public uint Find(ulong hash, ReadOnlySpan<byte> page, int maxRefs)
    {
        for (uint m = _head.GetValueOrDefault(hash, None); m != None; m = _links[m].Next)
        {
            if (machine.Frames[m].RefCount >= maxRefs) continue;
            if (machine.View(m, _scratch).SequenceEqual(page)) return m;
        }
        return None;
    }

    public void Add(uint mfn, ulong hash)
    {
        _links[mfn] = (hash, _head.GetValueOrDefault(hash, None));
        _head[hash] = mfn;
    }

    public void Remove(uint mfn)
    {
        var (hash, next) = _links[mfn];
        _links.Remove(mfn);
        uint head = _head[hash];
        if (head == mfn)
        {
            if (next == None) _head.Remove(hash);
            else _head[hash] = next;
            return;
        }
        for (uint prev = head; ; prev = _links[prev].Next)
        {
            if (_links[prev].Next != mfn) continue;
            _links[prev] = (_links[prev].Hash, next);
            return;
        }
    }
}
