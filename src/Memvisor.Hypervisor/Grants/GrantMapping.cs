namespace Memvisor.Hypervisor.Grants;

/// <summary>One mapping of a granted page: whose page and entry, where the grantee has it, the frame, and whether read-only.</summary>
public sealed record GrantMapping(ushort Granter, uint Ref, ulong At, uint Mfn, bool ReadOnly)
{
    /// <summary>A PV grantee's L1 table (mfn) and slot the mapping wrote (GNTMAP_contains_pte); uint.MaxValue for a p2m mapping only.</summary>
    public uint PteTable { get; init; } = uint.MaxValue;
    public int PteIndex { get; init; }
    public bool HasPte => PteTable != uint.MaxValue;
    /// <summary>Whether the mapping holds a writable type reference on a PV granter's frame (released with it).</summary>
    public bool HoldsWritableType { get; init; }
}
