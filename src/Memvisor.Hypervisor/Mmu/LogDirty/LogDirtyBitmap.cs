namespace Memvisor.Hypervisor.Mmu.LogDirty;

/// <summary>
/// Log-dirty mode (Xen's paging_log_dirty, as used by live migration): every page of the domain is write-protected;
/// the first write to each page after a clean faults into the hypervisor, which sets the page's bit and lets the
/// write go on. <see cref="Clean"/> returns the dirty pages and protects them again (XEN_DOMCTL_SHADOW_OP_CLEAN);
/// <see cref="Peek"/> only returns them (SHADOW_OP_PEEK).
/// </summary>
public sealed class LogDirtyBitmap(ulong capacityGfns)
{
    private readonly ulong[] _bits = new ulong[(capacityGfns + 63) / 64];

    public ulong Capacity => capacityGfns;
    /// <summary>Pages dirtied since the last clean.</summary>
    public long DirtyPages { get; private set; }
    /// <summary>Write faults taken (one per page per round).</summary>
    public long Faults { get; private set; }
    public long Cleans { get; private set; }

    /// <summary>A guest write to <paramref name="gfn"/>: true if it faulted (the page was still protected this round).</summary>
    public bool OnWrite(ulong gfn)
    {
        if (gfn >= capacityGfns) return false;
        ref ulong word = ref _bits[gfn >> 6];
        ulong bit = 1UL << (int)(gfn & 63);
        if ((word & bit) != 0) return false;
        word |= bit;
        DirtyPages++;
        Faults++;
        return true;
    }

    public bool IsDirty(ulong gfn) => gfn < capacityGfns && (_bits[gfn >> 6] & (1UL << (int)(gfn & 63))) != 0;

    /// <summary>Copies the dirty pages in [first, first + count) to <paramref name="dirty"/> (as many as fit) and returns how many there are.</summary>
    public int Peek(ulong first, ulong count, Span<ulong> dirty)
    {
        int n = 0;
        ulong end = Math.Min(capacityGfns, first + count);
        for (ulong g = first; g < end; g++)
            if ((_bits[g >> 6] & (1UL << (int)(g & 63))) != 0)
            {
                if (n < dirty.Length) dirty[n] = g;
                n++;
            }
        return n;
    }

    /// <summary>Like <see cref="Peek"/>, and the returned pages are protected again (their bits cleared).</summary>
    public int Clean(ulong first, ulong count, Span<ulong> dirty)
    {
        int n = Peek(first, count, dirty);
        ulong end = Math.Min(capacityGfns, first + count);
        for (ulong g = first; g < end; g++) _bits[g >> 6] &= ~(1UL << (int)(g & 63));
        DirtyPages -= n;
        Cleans++;
        return n;
    }
}
