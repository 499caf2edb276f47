using Memvisor.Guest.Memory;
using Memvisor.Machine.Frames;
using Memvisor.Seam;

namespace Memvisor.Guest.Kernel;

// Moving an anonymous page to another guest page (Linux's migrate_pages): hot-unplug's offlining and the tiering of
// the guest's own NUMA nodes use it.
public sealed partial class GuestKernel
{
    private readonly byte[] _migrationCopy = new byte[PageSize.Bytes];

    /// <summary>
    /// Moves the anonymous page at <paramref name="gfn"/> to the free page <paramref name="to"/> the caller took: copies
    /// its bytes, moves its descriptor and its LRU place, and repoints its PTE; <paramref name="gfn"/> is left marked
    /// free for the caller to give back to the allocator or keep (hot-unplug isolates it). False (and nothing changed)
    /// if no PTE maps it.
    /// </summary>
    internal bool MoveAnonPage(ulong gfn, ulong to)
    {
        if (!Rmap.MoveAnon(gfn, to)) return false;
        if (Memory.TryReadSynthetic(new Gfn(gfn), out var content)) Memory.Touch(new Gfn(to), write: true, content);
        else if (Memory.ReadPage(new Gfn(gfn), _migrationCopy)) Memory.WritePage(new Gfn(to), _migrationCopy);
        ref var d = ref Pages[gfn];
        var flags = d.Flags;
        bool onLru = d.Has(PageFlags.OnLru), active = d.Has(PageFlags.Active);
        int owner = d.Owner;
        ulong index = d.Index;
        Pages.Remove(gfn);
        Pages.Assign(to, PageUse.Anon, owner, index);
        Pages[to].Flags = flags & ~(PageFlags.OnLru | PageFlags.Active);
        if (onLru) Pages.AddHead(to, PageMap.ListFor(PageUse.Anon, active));
        Pages.Assign(gfn, PageUse.Free, 0, 0);
        Counters.PagesMigrated++;
        return true;
    }
}
