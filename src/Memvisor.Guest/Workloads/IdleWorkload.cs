using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;

namespace Memvisor.Guest.Workloads;

/// <summary>A guest that boots and runs nothing.</summary>
public sealed class IdleWorkload : IWorkload
{
    public string Kind => "idle";
    public IReadOnlyList<Process> Processes => [];
    public void Step(GuestKernel kernel, long nowNs, long dtNs) { }
}
