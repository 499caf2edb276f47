namespace Memvisor.Hypervisor.Grants;

/// <summary>
/// A v1 grant entry, 8 bytes as Xen's public/grant_table.h lays it out (struct grant_entry_v1): flags in bits 0-15,
/// the domid granted in bits 16-31 and the granted frame (the granter's gfn) in bits 32-63, read and written as one
/// little-endian word of the table's frame.
/// </summary>
public readonly record struct GrantEntry(ulong Raw)
{
    /// <summary>GTF_permit_access: the domain named may map or copy the frame.</summary>
    public const ushort PermitAccess = 1;
    /// <summary>GTF_accept_transfer: the domain named may transfer a page to this entry (page flipping).</summary>
    public const ushort AcceptTransfer = 2;
    private const ushort TypeMask = 3;
    /// <summary>GTF_readonly: the grantee may only read.</summary>
    public const ushort ReadOnly = 1 << 2;
    /// <summary>GTF_reading: the hypervisor has the frame mapped or in a copy for reading (set by Xen, not the guest).</summary>
    public const ushort Reading = 1 << 3;
    /// <summary>GTF_writing: the frame is mapped writable (set by Xen).</summary>
    public const ushort Writing = 1 << 4;

    /// <summary>GTF_transfer_committed and GTF_transfer_completed, on an accept-transfer entry (set by Xen).</summary>
    public const ushort TransferCommitted = 1 << 2;
    public const ushort TransferCompleted = 1 << 3;

    /// <summary>Entries per 4 KiB table frame.</summary>
    public const int PerFrame = 512;

    public static GrantEntry Access(ushort domid, uint gfn, bool readOnly) =>
        new(PermitAccess | (readOnly ? ReadOnly : 0u) | ((ulong)domid << 16) | ((ulong)gfn << 32));

    public ushort Flags => (ushort)Raw;
    public ushort DomId => (ushort)(Raw >> 16);
    public uint Frame => (uint)(Raw >> 32);
    public bool PermitsAccess => (Flags & TypeMask) == PermitAccess;
    public bool IsReadOnly => (Flags & ReadOnly) != 0;
    /// <summary>A granted page mapped now (an accept-transfer entry's bits 3-4 mean other things).</summary>
    public bool InUse => PermitsAccess && (Flags & (Reading | Writing)) != 0;

    public GrantEntry WithFlags(ushort flags) => new((Raw & ~0xFFFFUL) | flags);
}
