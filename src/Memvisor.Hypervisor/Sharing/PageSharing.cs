using System.Diagnostics;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.P2m;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Native;

namespace Memvisor.Hypervisor.Sharing;

/// <summary>
/// Content-based page sharing after Linux KSM (mm/ksm.c) and ESX's transparent page sharing: a scanner walks each
/// domain's pages at a set rate, hashes their bytes (XXH3), looks the hash up among shared frames (KSM's stable
/// tree) and then among pages seen this pass (the unstable tree), confirms every candidate with a full byte compare,
/// and maps matches read-only to one frame owned by dom_cow (Xen's mem_sharing). A write to a shared page breaks
/// the sharing: the writer gets a private copy. All-zero pages map to the one zero frame. Decisions use the bytes only.
/// </summary>
public sealed class PageSharing
{
    /// <summary>What m2p holds for a shared frame, as Xen's SHARED_M2P_ENTRY.</summary>
    public const uint SharedM2p = uint.MaxValue - 1;
    private const uint NoMfn = uint.MaxValue;

    private readonly Host _hv;
    private readonly FrameContentIndex _stable;
    private readonly Dictionary<ulong, (ushort Dom, uint Gfn)> _unstable = [];
    private readonly byte[] _scratch = new byte[PageSize.Bytes];
    private readonly byte[] _otherScratch = new byte[PageSize.Bytes];
    // Hashes of OS-image and library pages by content handle, worked out from their bytes (at most MaxImageDigests).
    private readonly Dictionary<ulong, ulong> _imageDigests = [];
    private const int MaxImageDigests = 1 << 18;
    private double _credit;
    private int _nextDomain;

    internal PageSharing(Host hv, SharingOptions options)
    {
        _hv = hv;
        Options = options;
        _stable = new FrameContentIndex(hv.Machine);
    }

    public SharingOptions Options { get; private set; }
    /// <summary>The live counters, bumped in place; <see cref="Stats"/> is a copy for readers.</summary>
    internal SharingStats Counters;
    public SharingStats Stats => Counters;

    /// <summary>Wall-clock time (Stopwatch ticks) the scanner's steps took: not deterministic, for run.json only.</summary>
    public long WallTicks { get; private set; }

    /// <summary>The frame every zero page maps to, once one has been found.</summary>
    public uint ZeroMfn { get; private set; } = NoMfn;
    public bool HasZeroFrame => ZeroMfn != NoMfn;

    /// <summary>Frames owned by dom_cow: the shared frames and the zero frame.</summary>
    public long SharedFrames => Counters.PagesShared + (HasZeroFrame ? 1 : 0);

    public long SavedPages => Counters.SavedPages(HasZeroFrame);

    /// <summary>Sets the scan rate (a policy's knob, as MOM sets KSM's pages_to_scan); 0 stops the scanner.</summary>
    public void SetScanRate(double pagesPerSecond) => Options = Options with { ScanRatePagesPerSecond = Math.Max(0, pagesPerSecond) };

    /// <summary>One scanner step: looks at up to rate*dt pages, spread evenly over the domains that take part.</summary>
    public void Step(long dtNs)
    {
        if (!Options.Enabled || Options.ScanRatePagesPerSecond <= 0) return;
        _credit += Options.ScanRatePagesPerSecond * dtNs / 1e9;
        long budget = (long)_credit;
        _credit -= budget;
        var domains = _hv.Domains;
        int eligible = 0;
        foreach (var d in domains) if (Eligible(d)) eligible++;
        if (eligible == 0 || budget == 0) return;
        long share = Math.Max(1, budget / eligible);
        long started = Stopwatch.GetTimestamp();
        for (int i = 0; i < domains.Count && budget > 0; i++)
        {
            var d = domains[(_nextDomain + i) % domains.Count];
            if (!Eligible(d)) continue;
            long n = Math.Min(share, budget);
            ScanDomain(d, n);
            budget -= n;
        }
        _nextDomain = (_nextDomain + 1) % Math.Max(1, domains.Count);
        Counters.PagesUnshared = _unstable.Count;
        WallTicks += Stopwatch.GetTimestamp() - started;
    }

    // ESX with large pages on keeps them whole while free memory is above its High threshold.
    private bool HoldsLargePages => _hv.LargePagesOnFirstTouch && !_hv.MayBreakLargePages;

    private static bool Eligible(Domain d) => d.Config.Sharing && !d.IsDying && !d.Incoming && d.P2m.RamEntries > 0;

    // Walks n pages of d from its cursor; when every domain has wrapped once more, a full scan is done and the
    // unstable tree starts afresh (as KSM does at the end of each full scan).
    // A 2 MiB page ESX is keeping whole is passed over in one stride.
    private void ScanDomain(Domain d, long n)
    {
        ulong capacity = d.P2m.Capacity;
        bool holdLarge = HoldsLargePages;
        long visited = 0;
        while (n > 0 && visited < (long)capacity)
        {
            ulong gfn = d.ScanCursor;
            bool skip = holdLarge && d.P2m.IsSuperpage(gfn);
            ulong next = skip ? (gfn | (P2mTable.LeafEntries - 1)) + 1 : gfn + 1;
            d.ScanCursor = next >= capacity ? 0 : next;
            visited += (long)(next - gfn);
            if (d.ScanCursor == 0)
            {
                d.ScanWraps++;
                CheckFullScan();
            }
            if (skip)
            {
                Counters.LargePageSkips++;
                continue;
            }
            var e = d.P2m.Get(gfn);
            if (!e.HasFrame) continue;
            n--;
            PrefetchAhead(d, gfn, capacity);
            ScanPage(d, gfn, e.Mfn);
        }
    }

    // Starts the loads of pages a few steps ahead, so that they have arrived when their turn comes: the frame-table
    // entry of the page eight on, and the memo set of the page four on (its entry started four steps ago).
    private void PrefetchAhead(Domain d, ulong gfn, ulong capacity)
    {
        var machine = _hv.Machine;
        if (gfn + 8 < capacity && d.P2m.Get(gfn + 8) is { HasFrame: true } far) machine.PrefetchFrame(far.Mfn);
        if (gfn + 4 < capacity && d.P2m.Get(gfn + 4) is { HasFrame: true } near && near.Mfn < machine.TotalFrames)
        {
            var content = machine.Frames[near.Mfn].Content;
            if (content.IsSynthetic) machine.Digests.Prefetch(content.Raw);
        }
    }

    private void CheckFullScan()
    {
        long min = long.MaxValue;
        foreach (var d in _hv.Domains) if (Eligible(d)) min = Math.Min(min, d.ScanWraps);
        if (min == long.MaxValue || min <= Counters.FullScans) return;
        Counters.FullScans = min;
        _unstable.Clear();
    }

    /// <summary>Looks at the page at gfn if the domain owns a frame there (one step of the scanner, for tests and tools); true if it was shared.</summary>
    public bool ScanGfn(Domain d, ulong gfn)
    {
        var e = d.P2m.Get(gfn);
        return e.HasFrame && !(HoldsLargePages && d.P2m.IsSuperpage(gfn)) && ScanPage(d, gfn, e.Mfn);
    }

    /// <summary>Looks at one page the domain owns and shares it if its bytes match a shared frame or another candidate. Returns true if it was shared.</summary>
    internal bool ScanPage(Domain d, ulong gfn, uint mfn)
    {
        // A page another domain has mapped through a grant keeps its frame (Xen's page_make_sharable refuses extra references).
        if (_hv.Grants.IsMapped(mfn)) return false;
        Counters.PagesScanned++;
        Counters.ScanNs += _hv.Costs.SharingScanPageNs;
        var content = _hv.Machine.Frames[mfn].Content;
        // A page of an OS image or library is the same in every guest that maps it: its hash is worked out from its
        // bytes once and kept, and its bytes are generated again only to compare it with a page of another name.
        // Any other synthetic page's hash is kept by its handle in a fixed-size memo, for when it is met again unchanged.
        bool imagePage = content.IsSynthetic && content.SyntheticClass is ContentClass.KernelText or ContentClass.SharedLibrary;
        ReadOnlySpan<byte> page = default;
        ulong hash = 0;
        bool generated = !(imagePage ? _imageDigests.TryGetValue(content.Raw, out hash) : content.IsSynthetic && _hv.Machine.Digests.TryGet(content.Raw, out hash));
        if (generated)
        {
            page = _hv.Machine.View(mfn, _scratch);
            bool zero = PageBytes.IsZero(page);
            if (Options.UseZeroPages && zero)
            {
                MapToZero(d, gfn, mfn);
                return true;
            }
            hash = XxHash.Hash64(page);
            if (content.IsSynthetic && !zero)
            {
                if (!imagePage) _hv.Machine.Digests.Put(content.Raw, hash);
                else if (_imageDigests.Count < MaxImageDigests) _imageDigests[content.Raw] = hash;
            }
        }
        // Salting: within one domain only, the domain's salt is part of the key, so no other domain's page can match.
        if (!Options.InterVm) hash ^= (d.DomId + 1UL) * 0x9E37_79B9_7F4A_7C15UL;
        uint s = generated ? _stable.Find(hash, page, Options.MaxPageSharing) : _stable.Find(hash, content, _scratch, ref generated, Options.MaxPageSharing);
        if (s != FrameContentIndex.None)
        {
            Merge(d, gfn, mfn, s);
            return true;
        }
        if (_unstable.TryGetValue(hash, out var candidate) && (candidate.Dom != d.DomId || candidate.Gfn != gfn))
        {
            var cd = _hv.Find(candidate.Dom);
            var ce = cd?.P2m.Get(candidate.Gfn) ?? P2mEntry.Invalid;
            if (cd is { IsDying: false } && ce.HasFrame && !_hv.Grants.IsMapped(ce.Mfn) && SameBytes(ce.Mfn, content, ref page, ref generated))
            {
                _unstable.Remove(hash);
                uint shared = Promote(cd, candidate.Gfn, ce.Mfn, hash);
                Merge(d, gfn, mfn, shared);
                return true;
            }
        }
        _unstable[hash] = (d.DomId, (uint)gfn);
        return false;
    }

    // Whether frame `other` holds the bytes `content` names: by handle when both are the same synthetic page, else by
    // bytes, generating this page's into the scratch buffer if they were not yet.
    private bool SameBytes(uint other, ContentHandle content, ref ReadOnlySpan<byte> page, ref bool generated)
    {
        if (content.IsSynthetic && _hv.Machine.Frames[other].Content == content) return true;
        if (!generated)
        {
            _hv.Machine.Contents.Read(content, _scratch);
            generated = true;
        }
        if (page.IsEmpty) page = _scratch;
        return _hv.Machine.View(other, _otherScratch).SequenceEqual(page);
    }

    // A candidate's own frame becomes the shared frame: it passes to dom_cow and leaves the domain's tot_pages.
    private uint Promote(Domain d, ulong gfn, uint mfn, ulong hash)
    {
        ref var f = ref _hv.Machine.Frames[mfn];
        if (f.Content.IsPrivate)
        {
            var stored = _hv.Machine.Contents.Store(_hv.Machine.View(mfn, _otherScratch));
            _hv.Machine.SetContent(mfn, stored);
        }
        GiveToCow(d, mfn);
        d.P2m.Set(gfn, P2mEntry.Shared(mfn));
        _stable.Add(mfn, hash);
        Counters.PagesShared++;
        return mfn;
    }

    // The domain's frame passes to dom_cow with one mapping and leaves the domain's tot_pages.
    private void GiveToCow(Domain d, uint mfn)
    {
        ref var f = ref _hv.Machine.Frames[mfn];
        f.Owner = DomIds.Cow;
        f.RefCount = 1;
        _hv.M2p[mfn] = SharedM2p;
        d.TotPages--;
    }

    // Maps gfn to the shared frame s and frees the domain's own frame.
    private void Merge(Domain d, ulong gfn, uint mfn, uint s)
    {
        _hv.ReleaseFrame(d, mfn);
        d.P2m.Set(gfn, P2mEntry.Shared(s));
        _hv.Machine.Frames[s].RefCount++;
        Counters.PagesSharing++;
        Counters.Merges++;
    }

    private void MapToZero(Domain d, ulong gfn, uint mfn)
    {
        if (!HasZeroFrame)
        {
            // The first zero page found becomes the zero frame.
            _hv.Machine.SetContent(mfn, ContentHandle.Zero);
            GiveToCow(d, mfn);
            ZeroMfn = mfn;
        }
        else _hv.ReleaseFrame(d, mfn);
        d.P2m.Set(gfn, P2mEntry.Shared(ZeroMfn));
        Counters.ZeroPages++;
        Counters.Merges++;
    }

    /// <summary>
    /// Breaks sharing for a write (Xen's mem_sharing_unshare_page): the domain gets a frame of its own at gfn,
    /// holding a copy of the shared bytes when <paramref name="copy"/> (a partial write) and nothing yet otherwise
    /// (the caller writes the whole page). False if the host has no frame to give: the write is refused and counted.
    /// </summary>
    internal bool Unshare(Domain d, ulong gfn, P2mEntry shared, bool copy, out uint mfn)
    {
        uint s = shared.Mfn;
        if (!_hv.TryAllocateGuestFrame(d, gfn, out mfn))
        {
            Counters.CowBreakFailures++;
            return false;
        }
        if (copy)
        {
            var content = _hv.Machine.Frames[s].Content;
            _hv.Machine.Contents.AddRef(content);
            _hv.Machine.SetContent(mfn, content);
        }
        _hv.MapFrame(d, gfn, mfn);
        Drop(s);
        Counters.CowBreaks++;
        d.PendingStallNs += _hv.Costs.VmExitNs + _hv.Costs.PageAllocNs + _hv.Costs.PageCopyNs;
        return true;
    }

    /// <summary>Drops one mapping of shared frame <paramref name="s"/> (unshare, balloon or destroy); the frame is freed with its last mapping.</summary>
    internal void Drop(uint s)
    {
        if (s == ZeroMfn)
        {
            Counters.ZeroPages--;
            return;
        }
        ref var f = ref _hv.Machine.Frames[s];
        f.RefCount--;
        if (f.RefCount > 0)
        {
            Counters.PagesSharing--;
            return;
        }
        _stable.Remove(s);
        Counters.PagesShared--;
        _hv.M2p[s] = M2p.Invalid;
        _hv.Machine.Free(s, 0);
    }

    /// <summary>How many gfns map shared frame <paramref name="s"/> (for the auditor).</summary>
    public long MappingsOf(uint s) => s == ZeroMfn ? Counters.ZeroPages : _hv.Machine.Frames[s].RefCount;

    public bool IsSharedFrame(uint s) => s == ZeroMfn || _stable.Contains(s);
}
