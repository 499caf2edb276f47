using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Memvisor.Hypervisor.P2m;

/// <summary>
/// A domain's p2m: gfn to (mfn, type), kept as a two-level radix like Xen's p2m tree, with 512-entry leaves
/// (one 4 KiB table page each) allocated only where entries exist. Lookups allocate nothing.
/// </summary>
public sealed class P2mTable
{
    public const int LeafShift = 9;
    public const int LeafEntries = 1 << LeafShift;
    private const int LeafMask = LeafEntries - 1;

    private ulong[]?[] _leaves;
    private ushort[] _leafUse;
    // Per leaf (2 MiB of gfns): 0 not yet known since its last change, 1 not a superpage, 2 one aligned machine extent.
    private byte[] _superpage;

    public P2mTable(ulong capacityGfns)
    {
        Capacity = capacityGfns;
        long leaves = (long)((capacityGfns + LeafMask) >> LeafShift);
        _leaves = new ulong[]?[leaves];
        _leafUse = new ushort[leaves];
        _superpage = new byte[leaves];
    }

    /// <summary>The domain's physical address space: gfns 0 .. Capacity-1.</summary>
    public ulong Capacity { get; private set; }
    public long RamEntries { get; private set; }
    public long PodEntries { get; private set; }
    public long SharedEntries { get; private set; }
    public long PagedOutEntries { get; private set; }
    public long CompressedEntries { get; private set; }
    /// <summary>Pages of a post-copy migration still on the source host (their frames claimed here).</summary>
    public long RemoteEntries { get; private set; }
    /// <summary>Other domains' frames mapped here through grants; not the domain's pages, so not in <see cref="PresentEntries"/>.</summary>
    public long GrantMapEntries { get; private set; }

    /// <summary>2 MiB regions that were one machine extent and had an entry changed since: large pages broken (split for sharing, ballooning, paging).</summary>
    public long LargePagesBroken { get; internal set; }

    /// <summary>The large pages broken, by what the first changed entry became.</summary>
    public LargePageSplits SplitsBy;

    /// <summary>Entries that are not invalid: the pages the domain has, wherever they are. Never more than max_pages.</summary>
    public long PresentEntries => RamEntries + PodEntries + SharedEntries + PagedOutEntries + CompressedEntries + RemoteEntries;
    public int LeafCount { get; private set; }

    /// <summary>Bytes this p2m occupies: its leaves and the top-level array.</summary>
    public long SizeInBytes => (long)LeafCount * LeafEntries * sizeof(ulong) + _leaves.LongLength * (IntPtr.Size + sizeof(ushort));

    // Every leaf has LeafEntries entries, so a masked index needs no bounds check; the check would load the leaf's
    // length from its first cache line, a second line per lookup that a random gfn misses as often as the entry's.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref ulong Entry(ulong[] leaf, ulong gfn) =>
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(leaf), (nint)(gfn & LeafMask));

    public P2mEntry Get(ulong gfn)
    {
        if (gfn >= Capacity) return P2mEntry.Invalid;
        var leaf = _leaves[gfn >> LeafShift];
        return leaf is null ? P2mEntry.Invalid : new P2mEntry(Entry(leaf, gfn));
    }

    /// <summary>
    /// The entry for a guest access: returns it and, if a frame is mapped there, sets its accessed flag (and for a
    /// write its dirty flag) as the hardware does on a walk. Allocates nothing.
    /// </summary>
    public P2mEntry GetForAccess(ulong gfn, bool write = false)
    {
        if (gfn >= Capacity) return P2mEntry.Invalid;
        var leaf = _leaves[gfn >> LeafShift];
        if (leaf is null) return P2mEntry.Invalid;
        ref ulong slot = ref Entry(leaf, gfn);
        var e = new P2mEntry(slot);
        ulong bits = write ? P2mEntry.HardwareBits : P2mEntry.AccessedBit | P2mEntry.TierAccessedBit;
        if ((slot & bits) != bits && e.IsMapped) slot |= bits;
        return e;
    }

    /// <summary>Clears the tiering scanner's accessed flag of the entry at <paramref name="gfn"/> and says whether it was set.</summary>
    public bool TestAndClearTierAccessed(ulong gfn) => TestAndClear(gfn, P2mEntry.TierAccessedBit);

    /// <summary>Clears the dirty flag of the entry at <paramref name="gfn"/> and says whether it was set.</summary>
    public bool TestAndClearDirty(ulong gfn) => TestAndClear(gfn, P2mEntry.DirtyBit);

    // Clears one of the flags the hardware sets (accessed, the tiering scanner's accessed, dirty) and says whether it was set.
    private bool TestAndClear(ulong gfn, ulong bit)
    {
        if (gfn >= Capacity) return false;
        var leaf = _leaves[gfn >> LeafShift];
        if (leaf is null) return false;
        ref ulong slot = ref Entry(leaf, gfn);
        bool was = (slot & bit) != 0;
        slot &= ~bit;
        return was;
    }

    /// <summary>Starts loading the cache line of the entry at <paramref name="gfn"/> (a hint for an access soon; see Native's CacheLine).</summary>
    public void Prefetch(ulong gfn)
    {
        if (gfn >= Capacity) return;
        var leaf = _leaves[gfn >> LeafShift];
        if (leaf is not null) Memvisor.Native.CacheLine.Prefetch(ref Entry(leaf, gfn));
    }

    /// <summary>Clears the accessed flag of the entry at <paramref name="gfn"/> and says whether it was set.</summary>
    public bool TestAndClearAccessed(ulong gfn) => TestAndClear(gfn, P2mEntry.AccessedBit);

    /// <param name="countAs">What a large page this breaks is counted as broken by, when not what the entry becomes (a zero page the pager dropped).</param>
    public void Set(ulong gfn, P2mEntry entry, P2mType? countAs = null)
    {
        if (gfn >= Capacity)
            throw new ArgumentOutOfRangeException(nameof(gfn), gfn, "The gfn is beyond this p2m; callers check Capacity first.");
        long index = (long)(gfn >> LeafShift);
        var leaf = _leaves[index];
        if (leaf is null)
        {
            if (entry.Type == P2mType.Invalid) return;
            leaf = _leaves[index] = new ulong[LeafEntries];
            LeafCount++;
        }
        var old = new P2mEntry(leaf[gfn & LeafMask]);
        Count(old.Type, -1);
        Count(entry.Type, +1);
        if (old.Type == P2mType.Invalid && entry.Type != P2mType.Invalid) _leafUse[index]++;
        else if (old.Type != P2mType.Invalid && entry.Type == P2mType.Invalid) _leafUse[index]--;
        if (_superpage[index] == 2 && ((old.Raw ^ entry.Raw) & ~P2mEntry.HardwareBits) != 0)
        {
            LargePagesBroken++;
            SplitsBy.Count(countAs ?? entry.Type);
        }
        leaf[gfn & LeafMask] = entry.Raw;
        _superpage[index] = 0;
        if (_leafUse[index] == 0)
        {
            _leaves[index] = null;
            LeafCount--;
        }
    }

    /// <summary>
    /// True if the 2 MiB of gfns around <paramref name="gfn"/> are all RAM backed by one 2 MiB-aligned run of machine
    /// frames, so that a nested (EPT) table could map them with one 2 MiB entry (Xen's p2m superpages). Worked out
    /// once per change of the region.
    /// </summary>
    public bool IsSuperpage(ulong gfn)
    {
        if (gfn >= Capacity) return false;
        long index = (long)(gfn >> LeafShift);
        if (_superpage[index] == 0) _superpage[index] = (byte)(IsOneExtent(_leaves[index]) ? 2 : 1);
        return _superpage[index] == 2;
    }

    /// <summary>Records that the 2 MiB region around <paramref name="gfn"/> was just mapped as one aligned extent, so that its breaking is counted.</summary>
    public void MarkSuperpage(ulong gfn)
    {
        if (gfn < Capacity) IsSuperpage(gfn);
    }

    /// <summary>True if every gfn of the 2 MiB region around <paramref name="gfn"/> is a populate-on-demand entry: untouched, so one 2 MiB page may back it.</summary>
    public bool IsUntouchedRegion(ulong gfn)
    {
        long index = (long)(gfn >> LeafShift);
        if (gfn >= Capacity || ((ulong)(index + 1) << LeafShift) > Capacity || _leafUse[index] != LeafEntries) return false;
        var leaf = _leaves[index]!;
        for (int i = 0; i < LeafEntries; i++)
            if (new P2mEntry(leaf[i]).Type != P2mType.PopulateOnDemand) return false;
        return true;
    }

    /// <summary>2 MiB regions mapped by one aligned machine extent now.</summary>
    public long CountSuperpages()
    {
        long n = 0;
        for (long i = 0; i < _leaves.LongLength; i++)
            if (_leafUse[i] == LeafEntries && IsSuperpage((ulong)i << LeafShift)) n++;
        return n;
    }

    private static bool IsOneExtent(ulong[]? leaf)
    {
        if (leaf is null) return false;
        var first = new P2mEntry(leaf[0]);
        if (first.Type != P2mType.Ram || (first.Mfn & LeafMask) != 0) return false;
        for (int i = 1; i < LeafEntries; i++)
        {
            var e = new P2mEntry(leaf[i]);
            if (e.Type != P2mType.Ram || e.Mfn != first.Mfn + (uint)i) return false;
        }
        return true;
    }

    /// <summary>Grows the physical address space (mem-max raised); entries are kept.</summary>
    public void Grow(ulong capacityGfns)
    {
        if (capacityGfns <= Capacity) return;
        long leaves = (long)((capacityGfns + LeafMask) >> LeafShift);
        Array.Resize(ref _leaves, (int)leaves);
        Array.Resize(ref _leafUse, (int)leaves);
        Array.Resize(ref _superpage, (int)leaves);
        Capacity = capacityGfns;
    }

    /// <summary>Visits every entry that is not invalid, in gfn order.</summary>
    public void ForEachPresent(Action<ulong, P2mEntry> visit)
    {
        for (long i = 0; i < _leaves.LongLength; i++)
        {
            var leaf = _leaves[i];
            if (leaf is null) continue;
            for (int j = 0; j < LeafEntries; j++)
            {
                var e = new P2mEntry(leaf[j]);
                if (e.Type != P2mType.Invalid) visit(((ulong)i << LeafShift) | (uint)j, e);
            }
        }
    }

    private void Count(P2mType type, int delta)
    {
        switch (type)
        {
            case P2mType.Ram: RamEntries += delta; break;
            case P2mType.PopulateOnDemand: PodEntries += delta; break;
            case P2mType.Shared: SharedEntries += delta; break;
            case P2mType.PagedOut: PagedOutEntries += delta; break;
            case P2mType.Compressed: CompressedEntries += delta; break;
            case P2mType.Remote: RemoteEntries += delta; break;
            case P2mType.GrantMapRw or P2mType.GrantMapRo: GrantMapEntries += delta; break;
        }
    }
}
