using Memvisor.Guest.Kernel;

namespace Memvisor.Guest.Workloads;

/// <summary>Allocates a working set, then touches it uniformly at a fixed rate; refills the set if the kernel could not supply it at first.</summary>
public sealed class SteadyWorkload(long workingSetPages, double ratePerSecond, double writeFraction) : IWorkload
{
    private readonly PageSet _pages = new();
    private double _credit;

    public string Kind => "steady";
    public long ResidentPages => _pages.Count;

    public void Step(GuestKernel kernel, long nowNs, long dtNs)
    {
        if (_pages.Count < workingSetPages) _pages.FillTo(kernel, workingSetPages);
        _credit += ratePerSecond * dtNs / 1e9;
        long n = (long)_credit;
        _credit -= n;
        _pages.Access(kernel, n, writeFraction);
    }
}
