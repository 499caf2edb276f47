using Memvisor.Guest.Mm;
using Memvisor.Guest.Storage;

namespace Memvisor.Guest.PageCache;

/// <summary>A file on the guest's disk: its pages' contents on disk, which of them the page cache holds, and the VMAs that map it (Linux's i_mmap).</summary>
public sealed class GuestFile(int id, string name, long pages, PageStore disk)
{
    private readonly uint[] _cached = new uint[pages];

    public int Id { get; } = id;
    public string Name { get; } = name;
    public long Pages { get; } = pages;
    public PageStore Disk { get; } = disk;
    public long CachedPages { get; private set; }
    public List<(Process Process, Vma Vma)> Mappings { get; } = [];

    public bool TryGetCached(long index, out ulong gfn)
    {
        uint g = _cached[index];
        gfn = g - 1u;
        return g != 0;
    }

    public void SetCached(long index, ulong gfn)
    {
        if (_cached[index] == 0) CachedPages++;
        _cached[index] = (uint)gfn + 1;
    }

    public void ClearCached(long index)
    {
        if (_cached[index] != 0) CachedPages--;
        _cached[index] = 0;
    }
}
