using Memvisor.Guest.Kernel;

namespace Memvisor.Guest.Workloads;

/// <summary>A guest that boots and does nothing more.</summary>
public sealed class IdleWorkload : IWorkload
{
    public string Kind => "idle";
    public long ResidentPages => 0;
    public void Step(GuestKernel kernel, long nowNs, long dtNs) { }
}
