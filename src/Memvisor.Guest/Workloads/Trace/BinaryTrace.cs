namespace Memvisor.Guest.Workloads.Trace;

/// <summary>
/// Memvisor's compact trace format ("MVTRACE1"): an 8-byte magic, then one record after another. A record is a
/// byte holding the kind (bits 0-1) and size - 1 (bits 2-7), then the address as a zigzag LEB128 varint of its
/// difference from the previous address of the same stream (instruction fetches and data accesses are two streams,
/// each mostly sequential, so most records take 2 or 3 bytes).
/// </summary>
public static class BinaryTrace
{
    public static ReadOnlySpan<byte> Magic => "MVTRACE1"u8;

    public static bool HasMagic(ReadOnlySpan<byte> head) => head.Length >= 8 && head[..8].SequenceEqual(Magic);
}
