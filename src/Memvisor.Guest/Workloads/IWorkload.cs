using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;

namespace Memvisor.Guest.Workloads;

/// <summary>A guest's workload: processes that it starts in its kernel and that map, touch and unmap memory each step.</summary>
public interface IWorkload
{
    string Kind { get; }

    /// <summary>Every process the workload started, live or ended, in start order.</summary>
    IReadOnlyList<Process> Processes { get; }

    void Step(GuestKernel kernel, long nowNs, long dtNs);
}
