using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Native;

namespace Memvisor.Sim.Images;

/// <summary>
/// The distinct non-zero contents of a set of images, found as the hypervisor's sharing scanner and Linux KSM find
/// them: XXH3 of the page to find candidates, then a full byte compare with each candidate of equal hash. Like KSM,
/// it keeps where a content's first page is rather than a copy of its bytes (memory grows with distinct contents by
/// a few dozen bytes, not 4 KiB), and re-reads that page from its image for the compare.
/// </summary>
public sealed class ContentIndex(ContentIndex.PageReader read)
{
    public delegate void PageReader(PageLocation at, Span<byte> page);

    private readonly HashChains _byHash = new();
    private readonly byte[] _candidate = new byte[PageSize.Bytes];
    private Entry[] _entries = new Entry[1024];

    private struct Entry
    {
        public PageLocation At;
        /// <summary>Pages seen holding this content.</summary>
        public int Count;
        /// <summary>The last image that held it, to count distinct contents per image.</summary>
        public int LastImage;
    }

    public int Count { get; private set; }

    /// <summary>Full compares made, and how many of them found different bytes under an equal hash.</summary>
    public long Compares { get; private set; }
    public long HashCollisions { get; private set; }

    /// <summary>
    /// Finds the content of <paramref name="page"/> (not a zero page), or adds it as first seen at <paramref name="at"/>;
    /// its id, and whether <paramref name="at"/>'s image held it before.
    /// </summary>
    public int FindOrAdd(ReadOnlySpan<byte> page, PageLocation at, out bool isNew, out bool newInImage)
    {
        ulong hash = XxHash.Hash64(page);
        for (int id = _byHash.First(hash); id != HashChains.None; id = _byHash.Next(id))
        {
            read(_entries[id].At, _candidate);
            Compares++;
            if (!_candidate.AsSpan().SequenceEqual(page))
            {
                HashCollisions++;
                continue;
            }
            ref var e = ref _entries[id];
            e.Count++;
            newInImage = e.LastImage != at.Image;
            e.LastImage = at.Image;
            isNew = false;
            return id;
        }
        int added = Count++;
        if (added == _entries.Length) Array.Resize(ref _entries, _entries.Length * 2);
        _entries[added] = new Entry { At = at, Count = 1, LastImage = at.Image };
        _byHash.Add(added, hash);
        isNew = newInImage = true;
        return added;
    }

    /// <summary>Pages seen holding content <paramref name="id"/>.</summary>
    public int PagesOf(int id) => _entries[id].Count;
}
