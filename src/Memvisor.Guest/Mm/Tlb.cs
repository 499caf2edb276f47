namespace Memvisor.Guest.Mm;

/// <summary>
/// A direct-mapped translation cache tagged by address-space id (as with x86 PCIDs, so a switch between processes
/// needs no flush): virtual page to gfn, with the entry's writable and dirty bits. The kernel invalidates an entry
/// whenever it changes the PTE behind it (INVLPG), so the cache never disagrees with the page tables. Beside it, a
/// paging-structure cache keeps, per 2 MiB of address space, the page table that maps it (Intel's PDE cache), so
/// a TLB miss reads one PTE instead of walking four levels; upper-level entries only change when a process exits,
/// which flushes everything.
/// </summary>
public sealed class Tlb
{
    private const ulong WritableBit = 1UL << 62;
    private const ulong DirtyBit = 1UL << 61;
    private const ulong GfnMask = (1UL << 40) - 1;

    private readonly ulong[] _tags;
    private readonly ulong[] _values;
    private readonly int _mask;
    private readonly ulong[] _pdeTags = new ulong[PdeEntries];
    private readonly ulong[] _pdeTables = new ulong[PdeEntries];
    private const int PdeEntries = 1024;

    public Tlb(int entries)
    {
        if (entries < 1 || (entries & (entries - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(entries), entries, "A TLB has a power-of-two number of entries.");
        _tags = new ulong[entries];
        _values = new ulong[entries];
        _mask = entries - 1;
    }

    private static ulong Tag(int asid, ulong vpn) => ((ulong)(asid + 1) << 40) | vpn;
    private int Slot(int asid, ulong vpn) => (int)((vpn ^ ((ulong)asid * 0x9E37)) & (ulong)_mask);

    /// <summary>Looks up a translation usable for this access: a write needs an entry already writable and dirty.</summary>
    public bool TryTranslate(int asid, ulong vpn, bool write, out ulong gfn)
    {
        int s = Slot(asid, vpn);
        ulong v = _values[s];
        if (_tags[s] == Tag(asid, vpn) && (!write || (v & (WritableBit | DirtyBit)) == (WritableBit | DirtyBit)))
        {
            gfn = v & GfnMask;
            return true;
        }
        gfn = 0;
        return false;
    }

    public void Fill(int asid, ulong vpn, ulong gfn, bool writable, bool dirty)
    {
        int s = Slot(asid, vpn);
        _tags[s] = Tag(asid, vpn);
        _values[s] = gfn | (writable ? WritableBit : 0) | (dirty ? DirtyBit : 0);
    }

    public void Invalidate(int asid, ulong vpn)
    {
        int s = Slot(asid, vpn);
        if (_tags[s] == Tag(asid, vpn)) _tags[s] = 0;
    }

    /// <summary>The page table that maps the 2 MiB region of <paramref name="vpn"/>, if cached.</summary>
    public bool TryGetPageTable(int asid, ulong vpn, out ulong table)
    {
        ulong region = vpn >> 9;
        int s = (int)((region ^ ((ulong)asid * 0x9E37)) & (PdeEntries - 1));
        table = _pdeTables[s];
        return _pdeTags[s] == Tag(asid, region);
    }

    public void FillPageTable(int asid, ulong vpn, ulong table)
    {
        ulong region = vpn >> 9;
        int s = (int)((region ^ ((ulong)asid * 0x9E37)) & (PdeEntries - 1));
        _pdeTags[s] = Tag(asid, region);
        _pdeTables[s] = table;
    }

    public void FlushAll()
    {
        Array.Clear(_tags);
        Array.Clear(_pdeTags);
    }
}
