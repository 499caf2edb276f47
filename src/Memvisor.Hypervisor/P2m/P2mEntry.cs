namespace Memvisor.Hypervisor.P2m;

/// <summary>
/// One p2m entry in 8 bytes: mfn (or, for paged-out and compressed entries, a slot number) in bits 0..39, the p2m
/// type in bits 40..47, in bit 48 an accessed flag the hardware sets on a guest access (EPT's A bit), which the
/// clock eviction policy and the tiering scanner read and clear, and in bit 49 the dirty flag a write sets (EPT's D bit).
/// </summary>
public readonly record struct P2mEntry(ulong Raw)
{
    private const int TypeShift = 40;
    private const ulong PayloadMask = (1UL << TypeShift) - 1;
    public const ulong AccessedBit = 1UL << 48;
    /// <summary>Bit 49: the dirty flag the hardware sets on a guest write (EPT's D bit), which the tiering scanner reads and clears.</summary>
    public const ulong DirtyBit = 1UL << 49;
    /// <summary>Bit 50: a second accessed flag, the tiering scanner's own (as Linux's idle-page tracking keeps its own young bit), so that its clearing leaves the paging clock's alone.</summary>
    public const ulong TierAccessedBit = 1UL << 50;
    /// <summary>The flags the hardware sets on an access: a p2m change that keeps the mapping keeps them.</summary>
    public const ulong HardwareBits = AccessedBit | DirtyBit | TierAccessedBit;

    public static readonly P2mEntry Invalid = new(0);
    public static readonly P2mEntry PopulateOnDemand = new((ulong)P2mType.PopulateOnDemand << TypeShift);

    public static P2mEntry Ram(uint mfn) => new(((ulong)P2mType.Ram << TypeShift) | mfn);
    public static P2mEntry Shared(uint mfn) => new(((ulong)P2mType.Shared << TypeShift) | mfn);
    public static P2mEntry PagedOut(long slot) => new(((ulong)P2mType.PagedOut << TypeShift) | ((ulong)slot & PayloadMask));
    /// <summary>Another domain's frame, mapped through a grant (Grants/GrantOps.cs).</summary>
    public static P2mEntry GrantMap(uint mfn, bool readOnly) => new(((ulong)(readOnly ? P2mType.GrantMapRo : P2mType.GrantMapRw) << TypeShift) | mfn);
    /// <summary>A claimed frame whose page a post-copy migration has not brought over yet (Migration/LiveMigration.cs).</summary>
    public static P2mEntry Remote(uint mfn) => new(((ulong)P2mType.Remote << TypeShift) | mfn);
    public static P2mEntry Compressed(long slot) => new(((ulong)P2mType.Compressed << TypeShift) | ((ulong)slot & PayloadMask));

    public P2mType Type => (P2mType)((Raw >> TypeShift) & 0xFF);
    public uint Mfn => (uint)(Raw & PayloadMask);
    /// <summary>The swap slot or cache slot of a paged-out or compressed entry.</summary>
    public long Slot => (long)(Raw & PayloadMask);
    /// <summary>A frame this domain owns is mapped here.</summary>
    public bool HasFrame => Type == P2mType.Ram;
    /// <summary>The domain owns the frame named here: mapped (RAM) or waiting for its page to arrive (remote).</summary>
    public bool OwnsFrame => Type is P2mType.Ram or P2mType.Remote;
    /// <summary>A frame is mapped here, owned or shared: a read goes straight through.</summary>
    public bool IsMapped => Type is P2mType.Ram or P2mType.Shared;
    /// <summary>Another domain's frame is mapped here through a grant.</summary>
    public bool IsGrantMap => Type is P2mType.GrantMapRw or P2mType.GrantMapRo;
    public bool Accessed => (Raw & AccessedBit) != 0;
    public bool Dirty => (Raw & DirtyBit) != 0;
}
