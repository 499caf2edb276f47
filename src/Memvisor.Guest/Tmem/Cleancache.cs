using Memvisor.Seam;
using Memvisor.Guest.Kernel;
using Memvisor.Guest.PageCache;

namespace Memvisor.Guest.Tmem;

/// <summary>
/// Linux's cleancache over Xen tmem: a clean page-cache page that reclaim drops is put into an ephemeral pool, keyed
/// by (file, page index); a later miss in the page cache asks the pool before reading the disk. The hypervisor may
/// have dropped the page meanwhile, so a miss just falls through to the disk. A page about to be overwritten
/// without a read is flushed from the pool, so the pool never returns stale bytes.
/// </summary>
public sealed class Cleancache(GuestKernel k, int pool)
{
    public long Puts { get; private set; }
    public long Hits { get; private set; }
    public long Misses { get; private set; }

    /// <summary>Reclaim is dropping this clean page: offer its bytes to the hypervisor.</summary>
    public void Put(GuestFile file, long index, ulong gfn)
    {
        if (k.Memory.TmemPut(pool, (ulong)file.Id, (uint)index, new Gfn(gfn))) Puts++;
    }

    /// <summary>A page-cache miss: true if the pool still had the page and it is now in gfn.</summary>
    public bool TryGet(GuestFile file, long index, ulong gfn)
    {
        if (k.Memory.TmemGet(pool, (ulong)file.Id, (uint)index, new Gfn(gfn)))
        {
            Hits++;
            return true;
        }
        Misses++;
        return false;
    }

    /// <summary>The page is about to get new bytes without being read: whatever the pool holds for it is stale.</summary>
    public void Invalidate(GuestFile file, long index) => k.Memory.TmemFlush(pool, (ulong)file.Id, (uint)index);
}
