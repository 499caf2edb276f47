namespace Memvisor.Hypervisor.P2m;

/// <summary>The machine-to-phys table: mfn to the gfn its owner maps it at (Xen's machine_to_phys_mapping), 4 bytes a frame.</summary>
public sealed class M2p
{
    public const uint Invalid = uint.MaxValue;
    private readonly uint[] _gfns;

    public M2p(long frames)
    {
        _gfns = new uint[frames];
        Array.Fill(_gfns, Invalid);
    }

    public uint this[uint mfn]
    {
        get => _gfns[mfn];
        set => _gfns[mfn] = value;
    }

    public long SizeInBytes => _gfns.LongLength * sizeof(uint);
}
