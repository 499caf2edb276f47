using Memvisor.Guest.Kernel;
using Memvisor.Guest.Workloads;
using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Machine;
using Memvisor.Machine.Time;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Integration;

/// <summary>One guest on a small host (the real hypervisor behind its port), booted, with the integrity checker on unless told otherwise.</summary>
internal static class GuestOnHost
{
    public const long Tick = 100_000_000;

    public static (Host Hv, GuestKernel Kernel) Boot(long memoryPages, long swapPages, IWorkload? workload = null, bool check = true, long hostFrames = 16384, long maxPages = 0,
        Func<GuestOptions, GuestOptions>? configure = null, OvercommitOptions? overcommit = null, MmuMode mmu = MmuMode.Hap)
    {
        var hv = new Host(new MachineMemory(hostFrames, 2), new CostModel(), () => 0, overcommit);
        var d = TestHost.Domain(hv, "g", memoryPages, Math.Max(maxPages, memoryPages), mmu: mmu);
        var options = new GuestOptions { SwapPages = swapPages, KernelTextPages = 512, CheckIntegrity = check };
        if (configure is not null) options = configure(options);
        var k = new GuestKernel("g", hv.PortFor(d), workload ?? new IdleWorkload(), options, new CostModel(), 7, onDemand: false);
        k.Boot();
        return (hv, k);
    }

    /// <summary>Steps the guest for <paramref name="ticks"/> ticks of 100 ms.</summary>
    public static void Run(GuestKernel k, int ticks, long startNs = 0)
    {
        for (int i = 0; i < ticks; i++) k.Step(startNs + i * Tick, Tick);
    }
}
