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

    public P2mTable(ulong capacityGfns)
    {
        Capacity = capacityGfns;
        long leaves = (long)((capacityGfns + LeafMask) >> LeafShift);
        _leaves = new ulong[]?[leaves];
        _leafUse = new ushort[leaves];
    }

    /// <summary>The domain's physical address space: gfns 0 .. Capacity-1.</summary>
    public ulong Capacity { get; private set; }
    public long RamEntries { get; private set; }
    public long PodEntries { get; private set; }
    public long SharedEntries { get; private set; }
    public long PagedOutEntries { get; private set; }
    public long CompressedEntries { get; private set; }

    /// <summary>Entries that are not invalid: the pages the domain has, wherever they are. Never more than max_pages.</summary>
    public long PresentEntries => RamEntries + PodEntries + SharedEntries + PagedOutEntries + CompressedEntries;
    public int LeafCount { get; private set; }

    /// <summary>Bytes this p2m occupies: its leaves and the top-level array.</summary>
    public long SizeInBytes => (long)LeafCount * LeafEntries * sizeof(ulong) + _leaves.LongLength * (IntPtr.Size + sizeof(ushort));

    public P2mEntry Get(ulong gfn)
    {
        if (gfn >= Capacity) return P2mEntry.Invalid;
        var leaf = _leaves[gfn >> LeafShift];
        return leaf is null ? P2mEntry.Invalid : new P2mEntry(leaf[gfn & LeafMask]);
    }

    /// <summary>
    /// The entry for a guest access: returns it and, if a frame is mapped there, sets its accessed flag as the
    /// hardware does on a walk. Allocates nothing.
    /// </summary>
    public P2mEntry GetForAccess(ulong gfn)
    {
        if (gfn >= Capacity) return P2mEntry.Invalid;
        var leaf = _leaves[gfn >> LeafShift];
        if (leaf is null) return P2mEntry.Invalid;
        ref ulong slot = ref leaf[gfn & LeafMask];
        var e = new P2mEntry(slot);
        if (!e.Accessed && e.IsMapped) slot |= P2mEntry.AccessedBit;
        return e;
    }

    /// <summary>Clears the accessed flag of the entry at <paramref name="gfn"/> and says whether it was set.</summary>
    public bool TestAndClearAccessed(ulong gfn)
    {
        if (gfn >= Capacity) return false;
        var leaf = _leaves[gfn >> LeafShift];
        if (leaf is null) return false;
        ref ulong slot = ref leaf[gfn & LeafMask];
        bool was = (slot & P2mEntry.AccessedBit) != 0;
        slot &= ~P2mEntry.AccessedBit;
        return was;
    }

    public void Set(ulong gfn, P2mEntry entry)
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
        leaf[gfn & LeafMask] = entry.Raw;
        if (_leafUse[index] == 0)
        {
            _leaves[index] = null;
            LeafCount--;
        }
    }

    /// <summary>Grows the physical address space (mem-max raised); entries are kept.</summary>
    public void Grow(ulong capacityGfns)
    {
        if (capacityGfns <= Capacity) return;
        long leaves = (long)((capacityGfns + LeafMask) >> LeafShift);
        Array.Resize(ref _leaves, (int)leaves);
        Array.Resize(ref _leafUse, (int)leaves);
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
        }
    }
}
