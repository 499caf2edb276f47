namespace Memvisor.Seam;

// Typed page numbers, as Xen's typesafe gfn_t and mfn_t (xen/include/xen/typesafe.h): a readonly struct around the
// number, no implicit conversion either way, so a gfn passed where a virtual page is meant does not compile. They
// cost nothing at run time (one ulong, passed in a register).

/// <summary>A guest frame number: a page of the guest's physical address space.</summary>
public readonly record struct Gfn(ulong Value)
{
    public override string ToString() => $"gfn {Value:x}";
}

/// <summary>A virtual page number: a page of a process's (or the kernel's) 48-bit virtual address space.</summary>
public readonly record struct Vpn(ulong Value)
{
    public override string ToString() => $"vpn {Value:x}";
}
