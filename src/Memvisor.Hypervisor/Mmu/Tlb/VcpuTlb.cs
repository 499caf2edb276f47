namespace Memvisor.Hypervisor.Mmu.Tlb;

/// <summary>
/// A vCPU's TLB: direct-mapped, virtual page to gfn with the entry's writable and dirty bits, tagged by address-space
/// id (x86 PCID/VPID, AMD ASID). Untagged, a switch of address space flushes it, and so does every world switch into
/// the hypervisor (an HVM exit without VPID). Beside it a paging-structure cache keeps, per 2 MiB of address space,
/// the table that maps it (Intel's PDE cache), so a miss there reads one entry instead of walking every level.
/// A 2 MiB page takes one entry for all of its 512 pages, in the same array (Skylake's second-level TLB holds 4 KiB
/// and 2 MiB translations alike, Intel SDM vol. 3 4.10.3).
/// Lookups allocate nothing. The model keeps gfns where hardware keeps machine frames: the p2m step of an access is
/// the hypervisor's port, which finds the frame and charges what it costs.
/// </summary>
public sealed class VcpuTlb
{
    private const ulong WritableBit = 1UL << 62;
    private const ulong DirtyBit = 1UL << 61;
    private const ulong GfnMask = (1UL << 40) - 1;
    // Set in the tag of a 2 MiB translation (virtual page numbers stay below bit 36).
    private const ulong HugeTag = 1UL << 39;
    private const int PdeEntries = 1024;

    private readonly ulong[] _tags;
    private readonly ulong[] _values;
    private readonly int _mask;
    private readonly ulong[] _pdeTags = new ulong[PdeEntries];
    private readonly ulong[] _pdeTables = new ulong[PdeEntries];
    private int _current;

    public VcpuTlb(int entries, bool tagged, bool walkCaches)
    {
        if (entries < 1 || (entries & (entries - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(entries), entries, "A TLB has a power-of-two number of entries.");
        _tags = new ulong[entries];
        _values = new ulong[entries];
        _mask = entries - 1;
        Tagged = tagged;
        WalkCaches = walkCaches;
    }

    public bool Tagged { get; }
    public bool WalkCaches { get; }
    public long Hits;
    public long Misses;
    public long Flushes;

    private static ulong Tag(int asid, ulong vpn) => ((ulong)(uint)(asid + 1) << 40) | vpn;
    private int Slot(int asid, ulong vpn) => (int)((vpn ^ ((ulong)(uint)asid * 0x9E37)) & (ulong)_mask);
    // The slot of the 2 MiB page around vpn: its region number inverted, so that it does not sit where low 4 KiB pages do.
    private int HugeSlot(int asid, ulong vpn) => Slot(asid, ~(vpn >> 9));

    /// <summary>Looks up a translation usable for this access (a write needs an entry already writable and dirty), counting a hit or a miss.</summary>
    public bool TryTranslate(int asid, ulong vpn, bool write, out ulong gfn, out bool writable)
    {
        int s = Slot(asid, vpn);
        ulong v = _values[s];
        if (_tags[s] == Tag(asid, vpn) && (!write || (v & (WritableBit | DirtyBit)) == (WritableBit | DirtyBit)))
        {
            Hits++;
            gfn = v & GfnMask;
            writable = (v & WritableBit) != 0;
            return true;
        }
        // A 4 KiB miss may still hit the 2 MiB page around it.
        int h = HugeSlot(asid, vpn);
        v = _values[h];
        if (_tags[h] == (Tag(asid, vpn >> 9) | HugeTag) && (!write || (v & (WritableBit | DirtyBit)) == (WritableBit | DirtyBit)))
        {
            Hits++;
            gfn = (v & GfnMask) + (vpn & 511);
            writable = (v & WritableBit) != 0;
            return true;
        }
        Misses++;
        gfn = 0;
        writable = false;
        return false;
    }

    /// <summary>Keeps the translation of the whole 2 MiB page around <paramref name="vpn"/>, which starts at gfn <paramref name="firstGfn"/>.</summary>
    public void FillHuge(int asid, ulong vpn, ulong firstGfn, bool writable, bool dirty)
    {
        int s = HugeSlot(asid, vpn);
        _tags[s] = Tag(asid, vpn >> 9) | HugeTag;
        _values[s] = firstGfn | (writable ? WritableBit : 0) | (dirty ? DirtyBit : 0);
    }

    public void Fill(int asid, ulong vpn, ulong gfn, bool writable, bool dirty)
    {
        int s = Slot(asid, vpn);
        _tags[s] = Tag(asid, vpn);
        _values[s] = gfn | (writable ? WritableBit : 0) | (dirty ? DirtyBit : 0);
    }

    /// <summary>INVLPG: drops the translation of one page, of the 2 MiB page around it, and the cached table of its 2 MiB region.</summary>
    public void Invalidate(int asid, ulong vpn)
    {
        int s = Slot(asid, vpn);
        if (_tags[s] == Tag(asid, vpn)) _tags[s] = 0;
        int h = HugeSlot(asid, vpn);
        if (_tags[h] == (Tag(asid, vpn >> 9) | HugeTag)) _tags[h] = 0;
        int p = PdeSlot(asid, vpn >> 9);
        if (_pdeTags[p] == Tag(asid, vpn >> 9)) _pdeTags[p] = 0;
    }

    private static int PdeSlot(int asid, ulong region) => (int)((region ^ ((ulong)(uint)asid * 0x9E37)) & (PdeEntries - 1));

    /// <summary>The L1 table that maps the 2 MiB region of <paramref name="vpn"/>, if the paging-structure cache has it.</summary>
    public bool TryGetPageTable(int asid, ulong vpn, out ulong table)
    {
        ulong region = vpn >> 9;
        int s = PdeSlot(asid, region);
        table = _pdeTables[s];
        return WalkCaches && _pdeTags[s] == Tag(asid, region);
    }

    public void FillPageTable(int asid, ulong vpn, ulong table)
    {
        if (!WalkCaches) return;
        ulong region = vpn >> 9;
        int s = PdeSlot(asid, region);
        _pdeTags[s] = Tag(asid, region);
        _pdeTables[s] = table;
    }

    /// <summary>A switch to address space <paramref name="asid"/>: flushes everything when the TLB is untagged.</summary>
    public void SwitchTo(int asid)
    {
        if (asid != _current && !Tagged) FlushAll();
        _current = asid;
    }

    /// <summary>A CR3 load where guest address spaces are not tagged apart (shadow paging, PV): everything goes.</summary>
    public void Reload(int asid)
    {
        _current = asid;
        FlushAll();
    }

    /// <summary>A world switch into the hypervisor and back: flushes everything when the TLB is untagged.</summary>
    public void WorldSwitch()
    {
        if (!Tagged) FlushAll();
    }

    /// <summary>Drops every entry tagged <paramref name="asid"/> (a flush of an address space that is not running).</summary>
    public void FlushAsid(int asid)
    {
        ulong tag = (ulong)(uint)(asid + 1) << 40;
        const ulong tagMask = ~((1UL << 40) - 1);
        for (int i = 0; i < _tags.Length; i++)
            if ((_tags[i] & tagMask) == tag) _tags[i] = 0;
        for (int i = 0; i < _pdeTags.Length; i++)
            if ((_pdeTags[i] & tagMask) == tag) _pdeTags[i] = 0;
        Flushes++;
    }

    public void FlushAll()
    {
        Array.Clear(_tags);
        Array.Clear(_pdeTags);
        Flushes++;
    }
}
