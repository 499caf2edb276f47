using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;

namespace Memvisor.Guest.Workloads;

/// <summary>One process touching its mapping with a Zipf-skewed choice of page (a small hot set, a long cold tail); ranks are scattered over the mapping by a fixed permutation.</summary>
public sealed class ZipfWorkload(long workingSetPages, double ratePerSecond, double writeFraction, double exponent) : IWorkload
{
    private readonly List<Process> _processes = [];
    private readonly ZipfSampler _zipf = new(Math.Max(1, workingSetPages), exponent);
    private Process? _p;
    private Region _region;
    private double _credit;
    private long _stride;
    private Func<double>? _uniform;

    public string Kind => "zipf";
    public IReadOnlyList<Process> Processes => _processes;

    public void Step(GuestKernel k, long nowNs, long dtNs)
    {
        if (_p is null)
        {
            _p = ProcessStart.Run(k, "zipf", _processes);
            if (_p is null) return;
            _region = Region.Map(k, _p, workingSetPages);
            _stride = CoprimeStride(workingSetPages);
            _uniform = k.NextDouble;
        }
        long n = k.TakeAccesses(ref _credit, ratePerSecond, dtNs);
        for (long i = 0; i < n && !_p.Exited && !k.Stalled; i++)
        {
            long rank = _zipf.Next(_uniform!) - 1;
            _region.Touch(k, _p, (long)((ulong)rank * (ulong)_stride % (ulong)_region.Pages), writeFraction);
        }
    }

    // A stride near the golden ratio of n that shares no factor with n, so rank * stride mod n is a permutation.
    private static long CoprimeStride(long n)
    {
        long s = Math.Max(1, (long)(n * 0.6180339887));
        while (Gcd(s, n) != 1) s++;
        return s;
    }

    private static long Gcd(long a, long b) => b == 0 ? a : Gcd(b, a % b);
}
