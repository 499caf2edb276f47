using Memvisor.Guest.Kernel;

namespace Memvisor.Guest.Workloads;

/// <summary>A guest's workload: each step it allocates, touches and frees pages through its kernel.</summary>
public interface IWorkload
{
    string Kind { get; }

    /// <summary>Pages the workload currently holds.</summary>
    long ResidentPages { get; }

    void Step(GuestKernel kernel, long nowNs, long dtNs);
}
