using Memvisor.Guest.Kernel;
using Memvisor.Guest.Workloads;
using Memvisor.Hypervisor.Domains;
using Memvisor.Machine;
using Memvisor.Machine.Time;
using Memvisor.Hypervisor;

namespace Memvisor.Bench;

/// <summary>A booted guest of 200,000 pages (about 780 MiB) on a 1 GiB host, running <c>workload</c>.</summary>
internal static class BenchGuest
{
    public static GuestKernel Boot(IWorkload workload, CostModel costs)
    {
        var hv = new Host(new MachineMemory(1L << 18, 1), new CostModel(), () => 0);
        hv.CreateDomain(new DomainConfig { Name = "bench", MemoryPages = 200_000, MaxPages = 200_000 }, out var d);
        var k = new GuestKernel("bench", hv.PortFor(d!), workload, new GuestOptions(), costs, 1, onDemand: false);
        k.Boot();
        return k;
    }
}
