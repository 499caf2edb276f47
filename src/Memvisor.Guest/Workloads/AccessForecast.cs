using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;
using Memvisor.Machine.Randomness;

namespace Memvisor.Guest.Workloads;

/// <summary>
/// Foretells a workload's next accesses from a copy of the kernel's random stream, drawing as the workload does (its
/// address through <c>pick</c>, then the write coin of <see cref="Region.Touch"/>), and announces each a few accesses
/// ahead with <see cref="GuestKernel.Expect"/>. The copy never feeds back: if anything else draws from the stream
/// meanwhile, the forecast goes wrong and only the prefetches are wasted. One per workload, reused every step.
/// </summary>
internal sealed class AccessForecast(Func<AccessForecast, ulong> pick)
{
    /// <summary>How many accesses ahead each is announced: far enough for three dependent prefetch stages to land
    /// (see GuestKernel.Expect), near enough that what they load is still cached. Chosen by A/B runs of the default
    /// scenario (docs/benchmarks.md).</summary>
    public const int Distance = 8;

    private GuestKernel? _k;
    private Process? _p;
    private double _writeFraction;
    private long _left;

    /// <summary>The copy of the kernel's stream that the picker draws from.</summary>
    public DeterministicRandom Stream;

    /// <summary>Starts a step of <paramref name="accesses"/> accesses, announcing the first few.</summary>
    public void Start(GuestKernel k, Process p, double writeFraction, long accesses)
    {
        _k = k;
        _p = p;
        _writeFraction = writeFraction;
        _left = k.Options.ForecastAccesses ? accesses : 0;
        if (_left == 0) return;
        Stream = k.ForkRandom();
        for (int i = 0; i < Distance; i++) Next();
    }

    /// <summary>Called before each access: announces the one <see cref="Distance"/> accesses on.</summary>
    public void Announce() => Next();

    private void Next()
    {
        if (_left-- <= 0) return;
        ulong address = pick(this);
        bool write = _writeFraction > 0 && Stream.NextDouble() < _writeFraction;
        _k!.Expect(_p!, address, write);
    }
}
