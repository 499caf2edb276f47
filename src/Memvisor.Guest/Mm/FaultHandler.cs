using Memvisor.Seam;
using Memvisor.Guest.Kernel;
using Memvisor.Guest.Memory;
using Memvisor.Machine.Content;

namespace Memvisor.Guest.Mm;

/// <summary>
/// The page-fault handler (Linux's handle_mm_fault): builds missing page tables, fills anonymous pages with zeros
/// on first touch, reads swapped-out pages back (a major fault) and maps file pages from the page cache.
/// </summary>
internal sealed class FaultHandler
{
    private readonly GuestKernel _k;
    private readonly Func<(bool, ulong)> _newTable;
    private Process? _current;

    public FaultHandler(GuestKernel kernel)
    {
        _k = kernel;
        _newTable = () => _k.NewTable(_current);
    }

    /// <summary>Handles a fault at <paramref name="vpn"/> whose walk ended at <paramref name="entry"/>; true if the page is now mapped.</summary>
    public bool Handle(Process p, ulong vpn, bool write, ulong entry, ulong table, int index, int level)
    {
        var vma = p.Find(vpn);
        if (vma is null && p.MapsOnDemand) vma = _k.MapRegionAround(p, vpn);
        if (vma is null || (write && !vma.Writable))
        {
            p.Counters.SegmentationFaults++;
            return false;
        }
        // An untouched 2 MiB region may get a huge page whole; the access is then tried again.
        if (level > 1 && vma.Kind == VmaKind.Anon && _k.Thp is { } thp)
        {
            if (thp.TryFault(p, vma, vpn, write)) return !p.Exited;
            if (p.Exited) return false;
        }
        if (level > 1)
        {
            _current = p;
            bool ok = _k.Tables.TryEnsureTable(p.Root, vpn, 1, _newTable, out table);
            _current = null;
            if (!ok || p.Exited) return false;
            index = Pte.IndexAt(vpn, 1);
            entry = 0;
        }
        if (Pte.IsSwap(entry)) return SwapIn(p, vma, vpn, write, entry, table, index);
        return vma.Kind == VmaKind.Anon ? ZeroFill(p, vma, vpn, write, table, index) : MapFilePage(p, vma, vpn, table, index);
    }

    private bool ZeroFill(Process p, Vma vma, ulong vpn, bool write, ulong table, int index)
    {
        if (!TryAllocateFor(p, out ulong gfn)) return false;
        _k.Memory.Touch(new Gfn(gfn), write: true, ContentHandle.Zero);
        _k.Pages.Assign(gfn, PageUse.Anon, p.Slot, vpn);
        _k.Pages.AddHead(gfn, LruList.InactiveAnon);
        SetPte(table, index, gfn, AnonFlags(vma, write));
        p.Counters.RssAnon++;
        p.Counters.DistinctPages++;
        p.Counters.MinorFaults++;
        _k.Counters.MinorFaults++;
        _k.Stall(_k.Costs.GuestMinorFaultNs);
        return true;
    }

    private bool SwapIn(Process p, Vma vma, ulong vpn, bool write, ulong entry, ulong table, int index)
    {
        if (!TryAllocateFor(p, out ulong gfn)) return false;
        uint slot = Pte.SwapSlot(entry);
        _k.Swap.SwapIn(_k.Memory, slot, gfn, out bool fromTmem);
        _k.Swap.Free(slot);
        _k.Pages.Assign(gfn, PageUse.Anon, p.Slot, vpn);
        _k.Pages.AddHead(gfn, LruList.ActiveAnon);
        // The swap copy is gone, so the page is dirty: it must be written again to be reclaimed.
        SetPte(table, index, gfn, AnonFlags(vma, write: true));
        p.Counters.RssAnon++;
        p.Counters.SwapEntries--;
        p.Counters.MajorFaults++;
        _k.Counters.MajorFaults++;
        _k.Counters.SwapIns++;
        if (!fromTmem) _k.Stall(_k.Costs.GuestSwapReadNs);
        return true;
    }

    private bool MapFilePage(Process p, Vma vma, ulong vpn, ulong table, int index)
    {
        var file = _k.Files[vma.FileId];
        long fileIndex = (long)(vma.FileOffset + (vpn - vma.Start));
        if (fileIndex >= file.Pages)
        {
            p.Counters.SegmentationFaults++;
            return false;
        }
        long readsBefore = _k.Counters.FileReads;
        if (!_k.Cache.TryGetPage(file, fileIndex, readFromDisk: true, out ulong gfn) || p.Exited) return false;
        bool major = _k.Counters.FileReads != readsBefore;
        SetPte(table, index, gfn, Pte.Present | Pte.User | Pte.Accessed | (vma.Writable ? Pte.Writable : 0));
        p.Counters.RssFile++;
        if (major)
        {
            p.Counters.MajorFaults++;
            _k.Counters.MajorFaults++;
        }
        else
        {
            p.Counters.MinorFaults++;
            _k.Counters.MinorFaults++;
            _k.Stall(_k.Costs.GuestMinorFaultNs);
        }
        return true;
    }

    // The entry that maps a faulted-in page; a Windows-like guest first marks the page in transition.
    private void SetPte(ulong table, int index, ulong gfn, ulong flags)
    {
        if (_k.Options.DemandPaging == DemandPaging.Windows) _k.Tables.Write(table, index, Pte.ForTransition(gfn));
        _k.Tables.Write(table, index, Pte.Make(gfn, flags));
    }

    // A user page for p. Reclaim inside the allocation never touches p's page tables' structure or swap entries,
    // but the OOM killer may have ended p; then the page goes back.
    private bool TryAllocateFor(Process p, out ulong gfn)
    {
        if (!_k.TryAllocatePage(user: true, out gfn)) return false;
        if (!p.Exited) return true;
        _k.Allocator.Give(gfn);
        return false;
    }

    internal static ulong AnonFlags(Vma vma, bool write) =>
        Pte.Present | Pte.User | Pte.Accessed | Pte.NoExecute | (vma.Writable ? Pte.Writable : 0) | (write ? Pte.Dirty : 0);
}
