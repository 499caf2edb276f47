using Memvisor.Guest.Kernel;
using Memvisor.Guest.Memory;
using Memvisor.Guest.Mm;
using Memvisor.Machine.Content;
using Memvisor.Seam;

namespace Memvisor.Guest.Thp;

/// <summary>
/// Transparent huge pages for anonymous memory, as Linux maps them with enabled=always and defrag=madvise
/// (mm/huge_memory.c): the first fault in an untouched, wholly mapped 2 MiB region takes a free aligned 2 MiB block,
/// zeroes it and maps it with one page-directory entry (do_huge_pmd_anonymous_page), keeping a page table aside for
/// a later split (pgtable_trans_huge_deposit); with no such block free above the low watermark it falls back to
/// 4 KiB pages without reclaim or compaction (thp_fault_fallback). Anything that needs one 4 KiB page of it (swap-out,
/// migration to another gfn) first splits it into 512 entries of the deposited table (__split_huge_pmd);
/// munmap and exit free it whole. The pages keep one descriptor each, marked compound, and share the entry's
/// accessed bit, so reclaim sees the 512 as referenced together, as it sees a folio.
/// </summary>
public sealed class TransparentHugePages
{
    private readonly GuestKernel _k;
    // The page table kept aside for each huge page, by process slot and 2 MiB region.
    private readonly Dictionary<ulong, ulong> _deposits = [];
    private readonly Func<(bool, ulong)> _newTable;
    private Process? _current;

    internal TransparentHugePages(GuestKernel kernel)
    {
        _k = kernel;
        _newTable = () => _k.NewTable(_current);
    }

    /// <summary>The live counters; <see cref="Stats"/> is a copy for readers.</summary>
    internal ThpStats Counters;
    public ThpStats Stats => Counters;
    /// <summary>Huge pages mapped now (AnonHugePages / 2 MiB).</summary>
    public long HugePages { get; private set; }

    private static ulong Key(Process p, ulong vpn) => ((ulong)(uint)p.Slot << 40) | (vpn >> 9);

    /// <summary>
    /// Maps the 2 MiB region around <paramref name="vpn"/> with a huge page if it can; false to fall back to a 4 KiB
    /// page. Only called where the walk found no page table below the region's page-directory entry.
    /// </summary>
    internal bool TryFault(Process p, Vma vma, ulong vpn, bool write)
    {
        ulong region = vpn & ~511UL;
        if (vma.Kind != VmaKind.Anon || region < vma.Start || region + 512 > vma.End) return false;
        var allocator = _k.Allocator;
        // No reclaim or compaction for it (defrag=madvise on a region without MADV_HUGEPAGE): only a block already free.
        if (allocator.FreePages - 512 < allocator.LowPages)
        {
            Counters.FaultFallback++;
            return false;
        }
        _current = p;
        bool ok = _k.Tables.TryEnsureTable(p.Root, vpn, 2, _newTable, out ulong directory);
        var (haveTable, deposit) = ok && !p.Exited ? _k.NewTable(p) : (false, 0UL);
        _current = null;
        // The OOM killer may have ended p while the tables were had (not today: the free-memory check above keeps these allocations from reclaiming).
        if (haveTable && p.Exited) _k.Allocator.Give(deposit);
        if (!haveTable || p.Exited) return false;
        if (allocator.FreePages - 512 < allocator.LowPages || !allocator.TryTakeBlock(9, out ulong first))
        {
            allocator.Give(deposit);
            p.Counters.PageTablePages--;
            Counters.FaultFallback++;
            return false;
        }
        for (ulong i = 0; i < 512; i++)
        {
            ulong gfn = first + i;
            _k.Memory.Touch(new Gfn(gfn), write: true, ContentHandle.Zero);
            _k.Pages.Assign(gfn, PageUse.Anon, p.Slot, region + i);
            _k.Pages.AddHead(gfn, LruList.InactiveAnon);
            _k.Pages[gfn].Flags |= PageFlags.Compound;
        }
        _deposits[Key(p, vpn)] = deposit;
        _k.Tables.Write(directory, Pte.IndexAt(vpn, 2), Pte.Make(first, FaultHandler.AnonFlags(vma, write) | Pte.Huge));
        p.Counters.RssAnon += 512;
        // One page was touched; the other 511 are zeroed, never faulted on, so a process's distinct pages count a huge page once.
        p.Counters.DistinctPages++;
        p.Counters.MinorFaults++;
        _k.Counters.MinorFaults++;
        // One fault and 2 MiB cleared (clear_huge_page): the first 4 KiB within the fault's cost, 511 more.
        _k.Stall(_k.Costs.GuestMinorFaultNs + 511 * _k.Costs.ScrubPageNs);
        Counters.FaultAlloc++;
        HugePages++;
        return true;
    }

    /// <summary>
    /// Splits the huge page mapped by <paramref name="pde"/> (at <paramref name="directory"/>[<paramref name="index"/>])
    /// into 512 entries of its deposited table, each with the huge entry's flags, and drops its translations.
    /// </summary>
    internal void Split(Process p, ulong vpn, ulong directory, int index, ulong pde, ThpSplitCause cause)
    {
        if (!_deposits.Remove(Key(p, vpn), out ulong table)) return;
        ulong first = Pte.Frame(pde);
        ulong flags = pde & ~(Pte.AddressMask | Pte.Huge);
        for (int i = 0; i < 512; i++) _k.Tables.Write(table, i, Pte.Make(first + (ulong)i, flags));
        _k.Tables.Write(directory, index, Pte.Make(table, Pte.TableFlags));
        _k.Mmu.InvalidatePage(p.Slot, new Vpn(vpn));
        for (ulong i = 0; i < 512; i++) _k.Pages[first + i].Flags &= ~PageFlags.Compound;
        HugePages--;
        if (cause == ThpSplitCause.Reclaim) Counters.SplitReclaim++;
        else Counters.SplitMigration++;
        double ns = _k.Costs.GuestThpSplitNs;
        Counters.SplitNs += ns;
        _k.Stall(ns);
    }

    /// <summary>munmap or exit reached a huge page: its 512 pages and its deposited table are freed.</summary>
    internal void Zap(Process p, ulong vpn, ulong pde)
    {
        ulong first = Pte.Frame(pde);
        for (ulong i = 0; i < 512; i++)
        {
            _k.Pages.Remove(first + i);
            _k.Allocator.Give(first + i);
        }
        p.Counters.RssAnon -= 512;
        if (_deposits.Remove(Key(p, vpn), out ulong table))
        {
            _k.Allocator.Give(table);
            p.Counters.PageTablePages--;
        }
        HugePages--;
        Counters.Zapped++;
    }

    /// <summary>
    /// Reclaim asks whether <paramref name="gfn"/>, a page of the huge page mapped by <paramref name="pde"/>, was
    /// referenced: the entry's accessed bit answers for all 512, so when it is set every other page of it is marked
    /// young (reclaim will find each referenced once, as it would the whole folio) and the bit is cleared.
    /// </summary>
    internal bool TestAndClearAccessed(Process p, ulong vpn, ulong gfn, ulong directory, int index, ulong pde)
    {
        if ((pde & Pte.Accessed) == 0) return false;
        _k.Tables.Write(directory, index, pde & ~Pte.Accessed);
        _k.Mmu.InvalidatePage(p.Slot, new Vpn(vpn));
        ulong first = Pte.Frame(pde);
        for (ulong i = 0; i < 512; i++)
            if (first + i != gfn) _k.Pages[first + i].Flags |= PageFlags.Young;
        return true;
    }
}
