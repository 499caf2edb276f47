using Memvisor.Machine.Frames;
using Memvisor.Guest.Mm;

namespace Memvisor.Guest.Workloads.Trace;

/// <summary>One memory access of a trace: its kind, address and size in bytes (1..64).</summary>
public readonly record struct TraceRecord(AccessKind Kind, ulong Address, byte Size)
{
    /// <summary>The last byte's page, which differs from the first's when the access straddles a page boundary.</summary>
    public ulong LastPage => (Address + Size - 1) >> PageSize.Shift;
}
