using System.Runtime.InteropServices;
using Memvisor.Machine.Frames;
using Memvisor.Native;

namespace Memvisor.Sim.Images;

/// <summary>
/// What Difference Engine-style patching would save (Gupta et al., OSDI 2008): a page that is not identical to any
/// kept page but similar to one is stored as a patch against it. Similar pages are found as Difference Engine's
/// HashSimilarityDetector(2,1) finds them, by the hashes of two 64-byte blocks at fixed offsets, each indexing the
/// first whole page that had it. The patch is the page XORed with its reference and LZ4-compressed (where
/// Difference Engine used xdelta); a page is patched when its patch is at most <see cref="PatchLimit"/> bytes, and
/// a patched page is never itself a reference.
/// </summary>
public sealed class PatchTally(ContentIndex.PageReader read, int patchLimit = PatchTally.DefaultPatchLimit)
{
    /// <summary>A patch no larger than half a page; beyond it the page is better kept whole or compressed.</summary>
    public const int DefaultPatchLimit = PageSize.Bytes / 2;
    private const int BlockBytes = 64;
    // Two block offsets, fixed for every page, away from the page's ends (where headers and padding sit).
    private const int FirstBlock = 11 * BlockBytes, SecondBlock = 43 * BlockBytes;

    // Block hash -> where the kept page that first had it is.
    private readonly Dictionary<ulong, PageLocation> _references = [];
    private readonly byte[] _delta = new byte[PageSize.Bytes];
    private readonly byte[] _patch = new byte[PageSize.Bytes];
    private readonly byte[] _scratch = new byte[PageSize.Bytes];

    public int PatchLimit { get; } = patchLimit;
    /// <summary>Pages tried against their similar pages (the sample, when the analysis samples).</summary>
    public long Tried { get; private set; }
    /// <summary>Pages stored as patches.</summary>
    public long Pages { get; private set; }
    /// <summary>Bytes those pages no longer take: 4096 less each patch.</summary>
    public long SavedBytes { get; private set; }

    /// <summary>
    /// Takes a page of new content, found at <paramref name="at"/>: when <paramref name="tried"/>,
    /// patches it against a similar kept page if one is close enough; otherwise keeps it whole as a reference.
    /// </summary>
    public void Add(ReadOnlySpan<byte> page, PageLocation at, bool tried = true)
    {
        ulong first = XxHash.Hash64(page.Slice(FirstBlock, BlockBytes));
        ulong second = XxHash.Hash64(page.Slice(SecondBlock, BlockBytes), seed: 1);
        if (tried && TryPatch(page, first, second)) return;
        _references.TryAdd(first, at);
        _references.TryAdd(second, at);
    }

    private bool TryPatch(ReadOnlySpan<byte> page, ulong first, ulong second)
    {
        Tried++;
        int best = int.MaxValue;
        bool hasFirst = _references.TryGetValue(first, out var a);
        if (hasFirst) best = PatchSize(page, a);
        if (_references.TryGetValue(second, out var b) && !(hasFirst && a == b)) best = Math.Min(best, PatchSize(page, b));
        if (best > PatchLimit) return false;
        Pages++;
        SavedBytes += PageSize.Bytes - best;
        return true;
    }

    // The LZ4 size of page XOR reference, or int.MaxValue when it exceeds the limit.
    private int PatchSize(ReadOnlySpan<byte> page, PageLocation reference)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(page);
        read(reference, _scratch);
        var kept = MemoryMarshal.Cast<byte, ulong>(_scratch.AsSpan());
        var delta = MemoryMarshal.Cast<byte, ulong>(_delta.AsSpan());
        for (int i = 0; i < delta.Length; i++) delta[i] = words[i] ^ kept[i];
        int n = Lz4.Compress(_delta, _patch.AsSpan(0, PatchLimit));
        return n > 0 ? n : int.MaxValue;
    }
}
