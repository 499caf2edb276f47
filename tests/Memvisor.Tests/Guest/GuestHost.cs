using Memvisor.Guest.Kernel;
using Memvisor.Guest.Workloads;
using Memvisor.Machine.Time;
using Memvisor.Tests.Support.InMemory;

namespace Memvisor.Tests.Guest;

/// <summary>One guest kernel on the in-memory backend (no hypervisor), booted, with the integrity checker on unless told otherwise.</summary>
internal static class GuestHost
{
    public const long Tick = 100_000_000;

    public static (InMemoryGuestMemory Memory, GuestKernel Kernel) Boot(long memoryPages, long swapPages, IWorkload? workload = null, bool check = true, long maxPages = 0,
        Func<GuestOptions, GuestOptions>? configure = null)
    {
        var memory = new InMemoryGuestMemory(memoryPages, Math.Max(maxPages, memoryPages));
        var options = new GuestOptions { SwapPages = swapPages, KernelTextPages = 512, CheckIntegrity = check };
        if (configure is not null) options = configure(options);
        var k = new GuestKernel("g", memory, workload ?? new IdleWorkload(), options, new CostModel(), 7, onDemand: false);
        k.Boot();
        return (memory, k);
    }

    /// <summary>Steps the guest for <paramref name="ticks"/> ticks of 100 ms.</summary>
    public static void Run(GuestKernel k, int ticks, long startNs = 0)
    {
        for (int i = 0; i < ticks; i++) k.Step(startNs + i * Tick, Tick);
    }
}
