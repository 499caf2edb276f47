using System.Runtime.InteropServices;

namespace Memvisor.Native;

/// <summary>xxHash (XXH3, 64-bit) from the system's libxxhash: the page hash used by the content store and the sharing scanner.</summary>
public static partial class XxHash
{
    private const string Library = "libxxhash.so.0";

    // XXH64_hash_t XXH3_64bits_withSeed(const void* data, size_t len, XXH64_hash_t seed);
    [LibraryImport(Library, EntryPoint = "XXH3_64bits_withSeed")]
    private static partial ulong Xxh3WithSeed(ReadOnlySpan<byte> data, nuint length, ulong seed);

    /// <summary>Hashes <paramref name="data"/> with XXH3-64 and the given seed.</summary>
    public static ulong Hash64(ReadOnlySpan<byte> data, ulong seed = 0) => Xxh3WithSeed(data, (nuint)data.Length, seed);
}
