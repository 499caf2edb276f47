using Memvisor.Machine.Content;

namespace Memvisor.Guest.Integrity;

/// <summary>
/// What one process last wrote to each of its virtual pages, for the integrity checker: the content handles in blocks
/// of 512 pages (one last-level page table's reach) keyed by the block's number, so a lookup is one small dictionary
/// probe and an array load, and consecutive lookups in one block (a workload's locality) skip the probe. A page never
/// written has no entry; a page written with zeros has the zero handle.
/// </summary>
internal sealed class WrittenPages
{
    private const int BlockShift = 9;
    private const int BlockPages = 1 << BlockShift;
    // No content handle has kind 0xF, so this marks a page with no entry.
    private const ulong Absent = ulong.MaxValue;

    private readonly Dictionary<ulong, ulong[]> _blocks = [];
    private ulong _lastKey = ulong.MaxValue;
    private ulong[]? _last;

    /// <summary>The handle last written to <paramref name="vpn"/>; false if it was never written (or forgotten since).</summary>
    public bool TryGet(ulong vpn, out ContentHandle content)
    {
        var block = Block(vpn >> BlockShift, create: false);
        ulong raw = block is null ? Absent : block[vpn & (BlockPages - 1)];
        content = new ContentHandle(raw == Absent ? 0 : raw);
        return raw != Absent;
    }

    public void Set(ulong vpn, ContentHandle content) => Block(vpn >> BlockShift, create: true)![vpn & (BlockPages - 1)] = content.Raw;

    /// <summary>Forgets the pages in [start, end): the process unmapped them. A block left with no entry is dropped.</summary>
    public void Forget(ulong start, ulong end)
    {
        if (end <= start) return;
        List<ulong>? emptied = null;
        foreach (var (key, block) in _blocks)
        {
            ulong first = key << BlockShift, last = first + BlockPages;
            if (last <= start || first >= end) continue;
            if (start <= first && end >= last) (emptied ??= []).Add(key);
            else for (ulong vpn = Math.Max(first, start); vpn < Math.Min(last, end); vpn++) block[vpn - first] = Absent;
        }
        if (emptied is null) return;
        foreach (var key in emptied) _blocks.Remove(key);
        _lastKey = ulong.MaxValue;
        _last = null;
    }

    /// <summary>Every page with an entry and what was last written to it, in no particular order.</summary>
    public IEnumerable<(ulong Vpn, ContentHandle Content)> Entries()
    {
        foreach (var (key, block) in _blocks)
            for (int i = 0; i < BlockPages; i++)
                if (block[i] != Absent) yield return ((key << BlockShift) + (ulong)i, new ContentHandle(block[i]));
    }

    private ulong[]? Block(ulong key, bool create)
    {
        if (key == _lastKey) return _last;
        if (!_blocks.TryGetValue(key, out var block))
        {
            if (!create) return null;
            block = new ulong[BlockPages];
            Array.Fill(block, Absent);
            _blocks[key] = block;
        }
        _lastKey = key;
        _last = block;
        return block;
    }
}
