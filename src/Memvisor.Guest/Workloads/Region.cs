using Memvisor.Machine.Frames;
using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;

namespace Memvisor.Guest.Workloads;

/// <summary>An anonymous mapping a workload touches: its base address and size, with access helpers.</summary>
internal readonly record struct Region(ulong Address, long Pages)
{
    public static Region Map(GuestKernel k, Process p, long pages) => new(k.MapAnonymous(p, pages), pages);

    public ulong PageAddress(long page) => Address + ((ulong)page << PageSize.Shift);

    /// <summary>Writes every page once, as a program initialising its heap does; stops if the process ends.</summary>
    public void Initialise(GuestKernel k, Process p)
    {
        for (long i = 0; i < Pages && !p.Exited; i++) k.Access(p, PageAddress(i), write: true);
    }

    /// <summary>One access to page <paramref name="page"/>, a write with probability <paramref name="writeFraction"/>.</summary>
    public void Touch(GuestKernel k, Process p, long page, double writeFraction)
    {
        bool write = writeFraction > 0 && k.NextDouble() < writeFraction;
        if (write) p.Counters.Stores++; else p.Counters.Loads++;
        k.Access(p, PageAddress(page), write);
    }
}
