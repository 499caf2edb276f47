using BenchmarkDotNet.Attributes;
using Memvisor.Hypervisor.Paging;
using Memvisor.Machine.Frames;

namespace Memvisor.Bench;

/// <summary>The hypervisor's swap file: page-out (a slot and a pwrite) and page-in (a pread of a random slot), in the temporary directory's file system.</summary>
[MemoryDiagnoser]
public class SwapFileBenchmarks
{
    private const int Pages = 16384;
    private SwapFile _swap = null!;
    private readonly byte[] _page = new byte[PageSize.Bytes];
    private readonly long[] _order = new long[Pages];

    [GlobalSetup]
    public void Setup()
    {
        _swap = SwapFile.TryOpen(null, Pages, out var error) ?? throw new InvalidOperationException(error);
        new Random(3).NextBytes(_page);
        for (int i = 0; i < Pages; i++) _swap.Write(_swap.Allocate(), _page);
        var rng = new Random(5);
        for (int i = 0; i < Pages; i++) _order[i] = rng.NextInt64(Pages);
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public int PageOut()
    {
        int errors = 0;
        for (int i = 0; i < Pages; i++)
        {
            long slot = _order[i];
            _swap.Free(slot);
            errors += _swap.Write(_swap.Allocate(), _page);
        }
        return errors;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public int PageIn()
    {
        int errors = 0;
        for (int i = 0; i < Pages; i++) errors += _swap.Read(_order[i], _page);
        return errors;
    }

    [GlobalCleanup]
    public void Cleanup() => _swap.Dispose();
}
