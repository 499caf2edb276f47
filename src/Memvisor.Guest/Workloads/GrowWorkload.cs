using Memvisor.Guest.Kernel;

namespace Memvisor.Guest.Workloads;

/// <summary>Allocates linearly up to a size over a duration (a heap growing), touching what it holds at an optional rate.</summary>
public sealed class GrowWorkload(long toPages, long overNs, double ratePerSecond, double writeFraction) : IWorkload
{
    private readonly PageSet _pages = new();
    private double _credit;

    public string Kind => "grow";
    public long ResidentPages => _pages.Count;

    public void Step(GuestKernel kernel, long nowNs, long dtNs)
    {
        long end = nowNs + dtNs;
        long want = overNs <= 0 || end >= overNs ? toPages : (long)((double)toPages * end / overNs);
        if (_pages.Count < want) _pages.FillTo(kernel, want);
        _credit += ratePerSecond * dtNs / 1e9;
        long n = (long)_credit;
        _credit -= n;
        _pages.Access(kernel, n, writeFraction);
    }
}
