namespace Memvisor.Native;

/// <summary>
/// XXH3-64, the page hash of the content store, the sharing scanner, tmem's deduplication, the swap file's checksums
/// and the output manifest. Managed (System.IO.Hashing) since issue 18: the same values as libxxhash's
/// XXH3_64bits_withSeed, and faster on a 4 KiB page here (203 to 240 ns against 311 to 537 ns; docs/benchmarks.md).
/// </summary>
public static class XxHash
{
    /// <summary>Hashes <paramref name="data"/> with XXH3-64 and the given seed.</summary>
    public static ulong Hash64(ReadOnlySpan<byte> data, ulong seed = 0) => System.IO.Hashing.XxHash3.HashToUInt64(data, unchecked((long)seed));
}
