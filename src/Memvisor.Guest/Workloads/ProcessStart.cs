using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;

namespace Memvisor.Guest.Workloads;

internal static class ProcessStart
{
    /// <summary>Starts a workload's process: spawns it, records it in <paramref name="started"/> and runs its C library start-up; null if the kernel could not spawn it.</summary>
    public static Process? Run(GuestKernel k, string name, List<Process> started)
    {
        var p = k.Spawn(name);
        if (p is null) return null;
        started.Add(p);
        k.StartProgram(p);
        return p;
    }
}
