namespace Memvisor.Seam;

/// <summary>The transcendent memory hypercalls (Xen's xen/common/tmem.c) behind the guest's frontswap and cleancache.</summary>
public interface IGuestTmem
{
    /// <summary>TMEM_NEW_POOL: a persistent (frontswap) or ephemeral (cleancache) pool; its id, or -1 if the host has no tmem.</summary>
    int TmemNewPool(bool persistent);

    /// <summary>TMEM_PUT_PAGE: copies the page at gfn into the pool under (object, index); false if refused.</summary>
    bool TmemPut(int pool, ulong obj, uint index, Gfn gfn);

    /// <summary>TMEM_GET_PAGE: copies the page back into gfn and removes it from the pool; false if the pool does not hold it.</summary>
    bool TmemGet(int pool, ulong obj, uint index, Gfn gfn);

    /// <summary>TMEM_FLUSH_PAGE: the pool forgets (object, index).</summary>
    void TmemFlush(int pool, ulong obj, uint index);

    /// <summary>Reads a page the pool holds without taking it (for the guest's integrity checker); false if it is not held.</summary>
    bool TmemPeek(int pool, ulong obj, uint index, Span<byte> page);
}
