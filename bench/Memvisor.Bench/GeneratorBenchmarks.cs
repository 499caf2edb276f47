using BenchmarkDotNet.Attributes;
using Memvisor.Guest.Kernel;
using Memvisor.Guest.Workloads;
using Memvisor.Machine.Time;

namespace Memvisor.Bench;

/// <summary>Workload generators driving a guest whose memory holds the working set: accesses per second of wall time, after warm-up faults.</summary>
[MemoryDiagnoser]
public class GeneratorBenchmarks
{
    private const double Rate = 1_000_000;    // accesses per simulated second: 100,000 per 100 ms step
    private GuestKernel _steady = null!, _zipf = null!;
    private long _now;

    [GlobalSetup]
    public void Setup()
    {
        _steady = Guest(new SteadyWorkload(65536, Rate, 0.3));
        _zipf = Guest(new ZipfWorkload(65536, Rate, 0.3, 0.99));
    }

    private static GuestKernel Guest(IWorkload w)
    {
        var k = BenchGuest.Boot(w, new CostModel());
        for (int i = 0; i < 20; i++) k.Step(i * 100_000_000L, 100_000_000);
        return k;
    }

    [Benchmark(OperationsPerInvoke = 100_000)]
    public void Steady() => _steady.Step(_now += 100_000_000, 100_000_000);

    [Benchmark(OperationsPerInvoke = 100_000)]
    public void Zipf() => _zipf.Step(_now += 100_000_000, 100_000_000);
}
