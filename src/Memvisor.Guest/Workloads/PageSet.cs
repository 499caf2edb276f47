using Memvisor.Guest.Kernel;

namespace Memvisor.Guest.Workloads;

/// <summary>The gfns a workload holds, with uniform random picks among them; 4 bytes a page.</summary>
internal sealed class PageSet
{
    private uint[] _gfns = new uint[1024];

    public int Count { get; private set; }

    public void Add(ulong gfn)
    {
        if (Count == _gfns.Length) Array.Resize(ref _gfns, _gfns.Length * 2);
        _gfns[Count++] = (uint)gfn;
    }

    public ulong Pick(GuestKernel kernel) => _gfns[kernel.NextRandom((ulong)Count)];

    /// <summary>Allocates and first-writes pages until the set holds <paramref name="pages"/>; stops when the kernel has none left.</summary>
    public void FillTo(GuestKernel kernel, long pages)
    {
        while (Count < pages && kernel.TryAllocatePage(out ulong gfn))
        {
            Add(gfn);
            kernel.Touch(gfn, write: true);
        }
    }

    /// <summary>Makes <paramref name="accesses"/> uniform random accesses, a share of them writes.</summary>
    public void Access(GuestKernel kernel, long accesses, double writeFraction)
    {
        if (Count == 0) return;
        for (long i = 0; i < accesses; i++)
            kernel.Touch(Pick(kernel), kernel.NextDouble() < writeFraction);
    }
}
