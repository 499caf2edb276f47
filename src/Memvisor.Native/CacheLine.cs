using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Memvisor.Native;

/// <summary>
/// A software prefetch (x86 PREFETCHT0): asks the CPU to start loading the cache line that holds a location, without
/// waiting for it. The simulator uses it to overlap the memory latency of the next guest accesses' lookups with the
/// current one. A prefetch is only a hint: a stale or wrong location costs time, never a wrong answer.
/// </summary>
public static class CacheLine
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Prefetch<T>(ref T location)
    {
        if (Sse.IsSupported) Sse.Prefetch0(Unsafe.AsPointer(ref location));
    }
}
