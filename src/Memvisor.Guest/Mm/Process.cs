using Memvisor.Machine.Frames;
namespace Memvisor.Guest.Mm;

/// <summary>
/// A guest process: its address space (VMAs and a 4-level page table rooted at <see cref="Root"/>, in guest frames)
/// and its counters. Anonymous mappings are placed top-down from below 128 TiB, as Linux's mmap does.
/// </summary>
public sealed class Process(int slot, int pid, string name, ulong root)
{
    private const ulong MmapTopVpn = 0x7F00_0000_0000UL >> PageSize.Shift;
    private readonly List<Vma> _vmas = [];
    private ulong _mmapNext = MmapTopVpn;

    /// <summary>Address-space id (the slot in the process table, also the TLB tag).</summary>
    public int Slot { get; } = slot;
    public int Pid { get; } = pid;
    public string Name { get; } = name;
    /// <summary>Gfn of the PML4 page (what CR3 would hold).</summary>
    public ulong Root { get; } = root;
    /// <summary>The live counters, bumped in place; <see cref="Stats"/> is a copy for readers.</summary>
    internal ProcessStats Counters;
    public ProcessStats Stats => Counters;
    public bool Exited { get; set; }
    public IReadOnlyList<Vma> Vmas => _vmas;
    /// <summary>Pages of private writable mappings (what Committed_AS adds up).</summary>
    public long CommittedPages { get; private set; }
    /// <summary>Pages touched in the last completed working-set window.</summary>
    public long WorkingSetPages { get; set; }
    /// <summary>Window of working-set sampling; 0 when the process is not sampled.</summary>
    public long WorkingSetWindowNs { get; set; }
    public long NextWorkingSetSampleNs { get; set; }
    /// <summary>Accesses outside every mapping map a 2 MiB anonymous region instead of failing (a replayed trace, whose mappings are not known).</summary>
    public bool MapsOnDemand { get; set; }

    public Vma? Find(ulong vpn)
    {
        int lo = 0, hi = _vmas.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            var v = _vmas[mid];
            if (vpn < v.Start) hi = mid - 1;
            else if (vpn >= v.End) lo = mid + 1;
            else return v;
        }
        return null;
    }

    /// <summary>Chooses a free range of <paramref name="pages"/> below the previous mapping, 2 MiB aligned.</summary>
    public ulong PlaceMapping(ulong pages)
    {
        ulong aligned = (pages + 511) & ~511UL;
        _mmapNext -= aligned;
        return _mmapNext;
    }

    public void Add(Vma vma)
    {
        int i = 0;
        while (i < _vmas.Count && _vmas[i].Start < vma.Start) i++;
        if ((i > 0 && _vmas[i - 1].End > vma.Start) || (i < _vmas.Count && _vmas[i].Start < vma.End))
            throw new InvalidOperationException($"A mapping at page {vma.Start:x} would overlap another mapping of {Name}.");
        _vmas.Insert(i, vma);
        if (vma.Kind == VmaKind.Anon && vma.Writable) CommittedPages += (long)vma.Pages;
    }

    public void Remove(Vma vma)
    {
        _vmas.Remove(vma);
        if (vma.Kind == VmaKind.Anon && vma.Writable) CommittedPages -= (long)vma.Pages;
    }

    /// <summary>Extends an anonymous mapping upward (brk or a growing trace region).</summary>
    public void Extend(Vma vma, ulong newEnd)
    {
        if (vma.Kind == VmaKind.Anon && vma.Writable) CommittedPages += (long)(newEnd - vma.End);
        vma.End = newEnd;
    }
}
