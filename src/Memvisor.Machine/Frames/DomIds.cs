namespace Memvisor.Machine.Frames;

/// <summary>Domain ids, with Xen's reserved values (xen/include/public/xen.h: DOMID_FIRST_RESERVED and up).</summary>
public static class DomIds
{
    public const ushort Dom0 = 0;
    public const ushort FirstReserved = 0x7FF0;
    /// <summary>DOMID_XEN: frames the hypervisor itself uses (its frame table, m2p, per-domain structures).</summary>
    public const ushort Xen = 0x7FF2;
    /// <summary>DOMID_COW: owner of shared copy-on-write frames (the sharing issue uses it).</summary>
    public const ushort Cow = 0x7FF3;
    /// <summary>DOMID_INVALID: the owner of a frame that is free in the heap.</summary>
    public const ushort Invalid = 0x7FF4;

    public static bool IsGuest(ushort domid) => domid < FirstReserved;
}
