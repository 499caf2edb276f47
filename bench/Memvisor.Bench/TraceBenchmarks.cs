using BenchmarkDotNet.Attributes;
using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;
using Memvisor.Guest.Workloads;
using Memvisor.Guest.Workloads.Trace;
using Memvisor.Machine.Time;

namespace Memvisor.Bench;

/// <summary>
/// Trace replay: decoding the binary format and parsing lackey text, and replaying through a guest kernel (TLB,
/// page-table walks, faults, the hypervisor's p2m and frame writes). The trace is synthetic but shaped like a
/// program's: a small code loop fetching instructions, and loads and stores striding through a 64 MiB array.
/// </summary>
[MemoryDiagnoser]
public class TraceBenchmarks
{
    private const int Records = 1 << 20;
    private string _dir = null!;
    private string _lackey = null!, _binary = null!;
    private readonly TraceRecord[] _buffer = new TraceRecord[4096];

    [GlobalSetup]
    public void Setup()
    {
        _dir = Directory.CreateTempSubdirectory("memvisor-bench-").FullName;
        _lackey = Path.Combine(_dir, "t.lackey");
        _binary = Path.Combine(_dir, "t.mvt");
        using (var w = new StreamWriter(_lackey))
        {
            ulong code = 0x401000, data = 0x7f12_3400_0000;
            var rng = new Random(5);
            for (int i = 0; i < Records; i++)
            {
                switch (i % 3)
                {
                    case 0: w.WriteLine($"I  {code + (ulong)(i % 4096):x8},4"); break;
                    case 1: w.WriteLine($" L {data + (ulong)rng.Next(64 << 20):x},8"); break;
                    default: w.WriteLine($" S {data + (ulong)(i * 8 % (64 << 20)):x},8"); break;
                }
            }
        }
        TraceFile.Convert(_lackey, new FileStream(_binary, FileMode.Create));
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    [Benchmark(OperationsPerInvoke = Records)]
    public long DecodeBinary() => Drain(_binary);

    [Benchmark(OperationsPerInvoke = Records)]
    public long ParseLackey() => Drain(_lackey);

    [Benchmark(OperationsPerInvoke = Records)]
    public long ReplayBinary() => Replay(_binary);

    [Benchmark(OperationsPerInvoke = Records)]
    public long ReplayLackey() => Replay(_lackey);

    private long Drain(string path)
    {
        using var r = TraceFile.Open(path);
        long sum = 0;
        int n;
        while ((n = r.Read(_buffer)) > 0) sum += n;
        return sum;
    }

    // One guest replays the whole trace once (speed set so one 100 ms step takes it all).
    private static long Replay(string path)
    {
        var w = new TraceWorkload("bench", () => TraceFile.Open(path), speed: Records / 1e7 * 1.01, loop: false, windowNs: 0);
        var k = BenchGuest.Boot(w, new CostModel { GuestMinorFaultNs = 0 });
        k.Step(0, 100_000_000);
        return w.Processes[0].Stats.Accesses;
    }
}
