using System.Diagnostics;
using Memvisor.Guest.Images;
using Memvisor.Machine.Frames;

namespace Memvisor.Sim.Images;

/// <summary>
/// What content-based page sharing, compression and patching would save on real guests' memory (memvisor analyze).
/// Every page of every image goes through a <see cref="ContentIndex"/> (XXH3 to find candidates, a full compare to
/// confirm, as the hypervisor's sharing scanner does), so a distinct content is counted once however many pages hold
/// it. The ideal sharer keeps one copy of each content; a KSM-like sharer keeps one per max_page_sharing pages (Linux's
/// default 256), zero pages included, as KSM without use_zero_pages does. Each page left after sharing then goes
/// through the hypervisor's codecs (<see cref="CompressionTally"/>) and Difference Engine-style patching
/// (<see cref="PatchTally"/>). The analysis owns the images it is given: it re-reads their pages to compare, and
/// disposes them with itself.
/// </summary>
public sealed class ImageAnalysis : IDisposable
{
    private readonly List<IMemoryImage> _images = [];
    private readonly ContentIndex _index;
    private readonly List<long> _pagesPerImage = [];
    private readonly List<long> _distinctPerImage = [];
    private readonly List<long> _zeroPerImage = [];
    private long _zeroPages;
    private long _estimateTicks;

    /// <param name="maxPageSharing">Pages a KSM-like sharer lets share one copy.</param>
    /// <param name="patchLimit">The largest patch that stands for a page.</param>
    /// <param name="sample">
    /// Compress and try to patch one in this many pages left after sharing (chosen by a fixed pseudo-random rule,
    /// so the same images give the same sample) and scale the sums up; 1 does every page. The sharing counts are
    /// always exact.
    /// </param>
    public ImageAnalysis(int maxPageSharing = 256, int patchLimit = PatchTally.DefaultPatchLimit, int sample = 1)
    {
        MaxPageSharing = maxPageSharing;
        Sample = sample;
        _index = new ContentIndex(ReadPage);
        Patching = new PatchTally(ReadPage, patchLimit);
    }

    /// <summary>
    /// The sample rate <c>memvisor analyze</c> picks for images of <paramref name="pages"/> pages in all: every page
    /// up to 16 Ki pages (64 MiB), then enough that about 16 Ki pages are compressed and tried, which bounds the
    /// sampling error of a share at about half a percent while the scan itself stays the cost that grows.
    /// </summary>
    public static int AutoSample(long pages) => (int)Math.Clamp((pages + AutoSampledPages - 1) / AutoSampledPages, 1, int.MaxValue);
    private const long AutoSampledPages = 16_384;

    public int MaxPageSharing { get; }
    public int Sample { get; }
    /// <summary>Wall-clock time spent compressing and patching the sample (not deterministic: never in the JSON).</summary>
    public TimeSpan EstimateTime => Stopwatch.GetElapsedTime(0, _estimateTicks);
    public long Pages { get; private set; }
    /// <summary>Images the analysis has taken (and will dispose), read to their end or not.</summary>
    public int ImagesTaken => _images.Count;
    public IReadOnlyList<long> PagesPerImage => _pagesPerImage;
    public long ZeroPages => _zeroPages;
    public IReadOnlyList<long> ZeroPagesPerImage => _zeroPerImage;
    /// <summary>Distinct contents within each image, its zero page counted as one.</summary>
    public IReadOnlyList<long> DistinctPerImage => _distinctPerImage;
    /// <summary>Distinct page contents across all images, the zero page counted as one.</summary>
    public long DistinctContents => _index.Count + (_zeroPages > 0 ? 1 : 0);
    /// <summary>Full page compares made to confirm equal hashes, and how many found different bytes.</summary>
    public long Compares => _index.Compares;
    public long HashCollisions => _index.HashCollisions;

    /// <summary>Pages an ideal sharer frees: every page beyond the first of its content.</summary>
    public long SavedPages => Pages - DistinctContents;
    /// <summary>What sharing within each image alone saves; the rest of <see cref="SavedPages"/> needs pages of different images.</summary>
    public long SavedWithinImages
    {
        get
        {
            long saved = 0;
            for (int i = 0; i < _pagesPerImage.Count; i++) saved += _pagesPerImage[i] - _distinctPerImage[i];
            return saved;
        }
    }
    public long SavedAcrossImages => SavedPages - SavedWithinImages;

    /// <summary>Pages a KSM-like sharer frees: a content held by n pages keeps ceil(n / max_page_sharing) copies.</summary>
    public long SavedPagesKsm
    {
        get
        {
            long kept = (_zeroPages + MaxPageSharing - 1) / MaxPageSharing;
            for (int id = 0; id < _index.Count; id++) kept += (_index.PagesOf(id) + MaxPageSharing - 1) / MaxPageSharing;
            return Pages - kept;
        }
    }

    /// <summary>The sampled pages left after sharing (one per non-zero content), compressed.</summary>
    public CompressionTally Compression { get; } = new();
    /// <summary>The sampled pages left after sharing, patched against similar ones.</summary>
    public PatchTally Patching { get; }
    /// <summary>The pages left after sharing: one per distinct non-zero content.</summary>
    public long PagesLeft => _index.Count;

    /// <summary>LZ4 bytes of all the pages left, from the sample.</summary>
    public long Lz4Bytes => ScaleUp(Compression.Lz4Bytes, Compression.Pages);
    /// <summary>zstd bytes of all the pages left, from the sample.</summary>
    public long ZstdBytes => ScaleUp(Compression.ZstdBytes, Compression.Pages);
    /// <summary>The share of the pages left that LZ4 compresses to half a page or less.</summary>
    public double HalfPageFraction => Compression.Pages == 0 ? 0 : (double)Compression.HalfPagePages / Compression.Pages;
    /// <summary>Pages of all the pages left that would be stored as patches, from the sample.</summary>
    public long PatchedPages => ScaleUp(Patching.Pages, Patching.Tried);
    public long PatchSavedBytes => ScaleUp(Patching.SavedBytes, Patching.Tried);

    private long ScaleUp(long sum, long sampled) => sampled == 0 ? 0 : (long)Math.Round((double)sum * PagesLeft / sampled);

    /// <summary>
    /// Reads every page of <paramref name="image"/> into the analysis, which keeps the image (to compare later pages
    /// with its) and disposes it with itself; <paramref name="progress"/> hears the pages read so far every 64 Ki pages.
    /// </summary>
    public void Add(IMemoryImage image, Action<long>? progress = null, CancellationToken cancel = default)
    {
        int index = _images.Count;
        _images.Add(image);
        long pages = 0, distinct = 0, zero = 0;
        var page = new byte[PageSize.Bytes];
        while (image.TryReadNext(out _, page))
        {
            var at = new PageLocation(index, pages);
            if ((++pages & 0xFFFF) == 0)
            {
                progress?.Invoke(pages);
                cancel.ThrowIfCancellationRequested();
            }
            if (PageBytes.IsZero(page))
            {
                if (zero++ == 0) distinct++;
                continue;
            }
            _index.FindOrAdd(page, at, out bool isNew, out bool newInImage);
            if (newInImage) distinct++;
            if (!isNew) continue;
            bool sampled = Sample == 1 || Mix((ulong)_index.Count) % (ulong)Sample == 0;
            long start = sampled ? Stopwatch.GetTimestamp() : 0;
            if (sampled) Compression.Add(page);
            Patching.Add(page, at, tried: sampled);
            if (sampled) _estimateTicks += Stopwatch.GetTimestamp() - start;
        }
        Pages += pages;
        _zeroPages += zero;
        _pagesPerImage.Add(pages);
        _distinctPerImage.Add(distinct);
        _zeroPerImage.Add(zero);
    }

    private void ReadPage(PageLocation at, Span<byte> page) => _images[at.Image].ReadPage(at.Page, page);

    // splitmix64's finalizer: which new contents fall in the sample, spread evenly and the same on every run.
    private static ulong Mix(ulong x)
    {
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    public void Dispose()
    {
        Compression.Dispose();
        foreach (var image in _images) image.Dispose();
    }
}
