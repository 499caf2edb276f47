using Memvisor.Guest.Images;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;

namespace Memvisor.Sim.Images;

/// <summary>
/// What content-based page sharing would save on real guests' memory (memvisor analyze). Every page of every image
/// goes through the content store the machine keeps guest bytes in (xxHash to find candidates, a full compare to
/// confirm), so a distinct content is counted once however many pages hold it. The ideal sharer keeps one copy of
/// each content; a KSM-like sharer keeps one per max_page_sharing pages (Linux's default 256), zero pages included,
/// as KSM without use_zero_pages does.
/// </summary>
public sealed class ImageAnalysis(int maxPageSharing = 256)
{
    private readonly ContentStore _store = new();
    private readonly List<long> _pagesPerImage = [];
    private readonly List<long> _distinctPerImage = [];
    // Per stored content: the pages that hold it, and the last image that held it (to count distinct contents per image).
    private int[] _count = new int[1024];
    private int[] _lastImage = new int[1024];
    private long _zeroPages;
    private int _lastZeroImage = -1;

    public int MaxPageSharing { get; } = maxPageSharing;
    public long Pages { get; private set; }
    public IReadOnlyList<long> PagesPerImage => _pagesPerImage;
    public long ZeroPages => _zeroPages;
    /// <summary>Distinct page contents across all images, the zero page counted as one.</summary>
    public long DistinctContents => _store.DistinctContents + (_zeroPages > 0 ? 1 : 0);
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
            for (int id = 0; id < _count.Length; id++)
                if (_count[id] > 0) kept += (_count[id] + MaxPageSharing - 1) / MaxPageSharing;
            return Pages - kept;
        }
    }

    /// <summary>Reads every page of <paramref name="image"/> into the analysis.</summary>
    public void Add(IMemoryImage image)
    {
        int index = _pagesPerImage.Count;
        long pages = 0, distinct = 0;
        var page = new byte[PageSize.Bytes];
        while (image.TryReadNext(out _, page))
        {
            pages++;
            var handle = _store.Store(page);
            if (handle.IsZero)
            {
                _zeroPages++;
                if (_lastZeroImage != index) distinct++;
                _lastZeroImage = index;
                continue;
            }
            int id = handle.StoredId;
            if (id >= _count.Length)
            {
                Array.Resize(ref _count, Math.Max(id + 1, _count.Length * 2));
                Array.Resize(ref _lastImage, _count.Length);
            }
            if (_count[id] == 0) _lastImage[id] = -1;   // a new content: no image has held it yet
            _count[id]++;
            if (_lastImage[id] != index) distinct++;
            _lastImage[id] = index;
        }
        Pages += pages;
        _pagesPerImage.Add(pages);
        _distinctPerImage.Add(distinct);
    }
}
