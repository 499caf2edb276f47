using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;

namespace Memvisor.Guest.Workloads;

/// <summary>Several workloads in one guest, each with its own processes, stepped in turn.</summary>
public sealed class MixWorkload(IReadOnlyList<IWorkload> parts) : IWorkload
{
    public string Kind => "mix";
    public IReadOnlyList<IWorkload> Parts => parts;
    public IReadOnlyList<Process> Processes => parts.SelectMany(p => p.Processes).ToList();

    public void Step(GuestKernel k, long nowNs, long dtNs)
    {
        foreach (var part in parts) part.Step(k, nowNs, dtNs);
    }
}
