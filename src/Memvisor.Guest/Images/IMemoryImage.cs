namespace Memvisor.Guest.Images;

/// <summary>
/// A real guest's memory read from a file, page by page in file order, without loading it whole: each page comes
/// with its guest frame number. Gaps between an image's runs of memory (the MMIO hole) are not pages of it; a last
/// partial page is zero-padded.
/// </summary>
public interface IMemoryImage : IDisposable
{
    string Path { get; }
    /// <summary>"elf" or "raw".</summary>
    string Format { get; }
    /// <summary>Pages the image holds bytes for (what <see cref="TryReadNext"/> returns in all).</summary>
    long Pages { get; }
    /// <summary>One past the highest guest frame number the image covers.</summary>
    ulong GfnLimit { get; }

    /// <summary>Reads the next page into <paramref name="page"/> (4096 bytes); false at the end.</summary>
    bool TryReadNext(out ulong gfn, Span<byte> page);

    /// <summary>
    /// Reads again the page <see cref="TryReadNext"/> returned as its <paramref name="index"/>-th (from 0), with a
    /// read of its own that leaves the sequential reading where it was.
    /// </summary>
    void ReadPage(long index, Span<byte> page);
}
