namespace Memvisor.Hypervisor.P2m;

/// <summary>One p2m entry in 8 bytes: mfn in bits 0..39, p2m type in bits 40..47.</summary>
public readonly record struct P2mEntry(ulong Raw)
{
    private const int TypeShift = 40;
    private const ulong MfnMask = (1UL << TypeShift) - 1;

    public static readonly P2mEntry Invalid = new(0);
    public static readonly P2mEntry PopulateOnDemand = new((ulong)P2mType.PopulateOnDemand << TypeShift);

    public static P2mEntry Ram(uint mfn) => new(((ulong)P2mType.Ram << TypeShift) | mfn);

    public P2mType Type => (P2mType)((Raw >> TypeShift) & 0xFF);
    public uint Mfn => (uint)(Raw & MfnMask);
    public bool HasFrame => Type == P2mType.Ram;
}
