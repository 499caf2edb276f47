using Memvisor.Seam;
using Memvisor.Machine.Frames;
using Memvisor.Guest.Kernel;
using Memvisor.Guest.Memory;
using Memvisor.Guest.Mm;
using Memvisor.Guest.Thp;

namespace Memvisor.Guest.Reclaim;

/// <summary>
/// Reverse mapping, from a page to the PTEs that map it (Linux's rmap): an anonymous page through its owner and
/// virtual page, a file page through the VMAs that map its file (i_mmap).
/// </summary>
internal sealed class Rmap(GuestKernel k)
{
    /// <summary>Whether the page was referenced since last asked (accessed bits, or the young flag left by working-set sampling), clearing what it finds.</summary>
    public bool TestAndClearReferenced(ulong gfn)
    {
        ref var d = ref k.Pages[gfn];
        bool referenced = d.Has(PageFlags.Young);
        d.Flags &= ~PageFlags.Young;
        if (d.Use == PageUse.Anon)
        {
            var p = k.Processes[d.Owner];
            if (p is not null) referenced |= ClearAccessed(p, d.Index, gfn);
        }
        else if (d.Use == PageUse.File)
        {
            var f = k.Files[d.Owner];
            long index = (long)d.Index;
            foreach (var (p, vma) in f.Mappings)
                if (TryVpnOf(vma, index, out ulong vpn)) referenced |= ClearAccessed(p, vpn, gfn);
        }
        return referenced;
    }

    /// <summary>Whether any process maps this file page.</summary>
    public bool IsMapped(ulong gfn)
    {
        ref var d = ref k.Pages[gfn];
        if (d.Use != PageUse.File) return d.Use == PageUse.Anon;
        foreach (var (p, vma) in k.Files[d.Owner].Mappings)
            if (TryVpnOf(vma, (long)d.Index, out ulong vpn) && Maps(p, vpn, gfn, out _, out _, out _)) return true;
        return false;
    }

    /// <summary>Points the one PTE of an anonymous page at swap slot <paramref name="slot"/>.</summary>
    public void ReplaceWithSwap(ulong gfn, uint slot)
    {
        ref var d = ref k.Pages[gfn];
        var p = k.Processes[d.Owner]!;
        if (!MapsSplit(p, d.Index, gfn, ThpSplitCause.Reclaim, out ulong table, out int index, out _)) return;
        k.Tables.Write(table, index, Pte.ForSwap(slot));
        k.Mmu.InvalidatePage(p.Slot, new Vpn(d.Index));
        p.Counters.RssAnon--;
        p.Counters.SwapEntries++;
    }

    /// <summary>Points the one PTE of an anonymous page at <paramref name="to"/>, keeping its flags (page migration; a huge page around it is split first); false if the page is not mapped.</summary>
    public bool MoveAnon(ulong gfn, ulong to)
    {
        ref var d = ref k.Pages[gfn];
        var p = k.Processes[d.Owner];
        if (p is null || !MapsSplit(p, d.Index, gfn, ThpSplitCause.Migration, out ulong table, out int index, out ulong e)) return false;
        k.Tables.Write(table, index, (e & ~Pte.AddressMask) | (to << PageSize.Shift));
        k.Mmu.InvalidatePage(p.Slot, new Vpn(d.Index));
        return true;
    }

    /// <summary>Clears every PTE that maps this file page; true if any of them was dirty.</summary>
    public bool UnmapFilePage(ulong gfn)
    {
        ref var d = ref k.Pages[gfn];
        bool dirty = false;
        foreach (var (p, vma) in k.Files[d.Owner].Mappings)
        {
            if (!TryVpnOf(vma, (long)d.Index, out ulong vpn) || !Maps(p, vpn, gfn, out ulong table, out int index, out ulong e)) continue;
            dirty |= (e & Pte.Dirty) != 0;
            k.Tables.Write(table, index, 0);
            k.Mmu.InvalidatePage(p.Slot, new Vpn(vpn));
            p.Counters.RssFile--;
        }
        return dirty;
    }

    private bool ClearAccessed(Process p, ulong vpn, ulong gfn)
    {
        if (IsHugeOf(p, vpn, gfn, out ulong directory, out int at, out ulong pde))
            return k.Thp!.TestAndClearAccessed(p, vpn, gfn, directory, at, pde);
        if (!Maps(p, vpn, gfn, out ulong table, out int index, out ulong e) || (e & Pte.Accessed) == 0) return false;
        k.Tables.Write(table, index, e & ~Pte.Accessed);
        k.Mmu.InvalidatePage(p.Slot, new Vpn(vpn));
        return true;
    }

    private bool Maps(Process p, ulong vpn, ulong gfn, out ulong table, out int index, out ulong entry)
    {
        entry = k.Tables.Walk(p.Root, vpn, out table, out index, out int level);
        return level == 1 && Pte.IsPresent(entry) && Pte.Frame(entry) == gfn;
    }

    // Whether a transparent huge page maps gfn at vpn (its page-directory entry, where it sits).
    private bool IsHugeOf(Process p, ulong vpn, ulong gfn, out ulong directory, out int index, out ulong pde)
    {
        pde = 0;
        directory = 0;
        index = 0;
        if (k.Thp is null || (k.Pages[gfn].Flags & PageFlags.Compound) == 0) return false;
        pde = k.Tables.Walk(p.Root, vpn, out directory, out index, out int level);
        return level == 2 && Pte.IsPresent(pde) && (pde & Pte.Huge) != 0 && Pte.Frame(pde) + (vpn & 511) == gfn;
    }

    // Maps, after splitting a huge page that maps gfn, as a 4 KiB operation on it needs.
    private bool MapsSplit(Process p, ulong vpn, ulong gfn, ThpSplitCause cause, out ulong table, out int index, out ulong entry)
    {
        if (IsHugeOf(p, vpn, gfn, out ulong directory, out int at, out ulong pde)) k.Thp!.Split(p, vpn, directory, at, pde, cause);
        return Maps(p, vpn, gfn, out table, out index, out entry);
    }

    private static bool TryVpnOf(Vma vma, long fileIndex, out ulong vpn)
    {
        vpn = vma.Start + (ulong)fileIndex - vma.FileOffset;
        return (ulong)fileIndex >= vma.FileOffset && vpn < vma.End;
    }
}
