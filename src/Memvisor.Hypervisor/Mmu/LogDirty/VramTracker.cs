using Memvisor.Machine.Time;

namespace Memvisor.Hypervisor.Mmu.LogDirty;

/// <summary>
/// Video RAM dirty tracking (Xen 3.3, HVMOP_track_dirty_vram): the device model refreshes the guest's framebuffer
/// every period and needs the pages the guest wrote since the last one. Three ways are costed on the same stream
/// of guest writes:
/// polling compares every page with the device model's copy each period;
/// tracking asks the hypervisor once per period for the dirty list, which it reads off the mappings' dirty bits
/// and clears (no write faults while tracking);
/// tracking with drop does the same, but after two seconds without a write it removes the guest's write access to
/// the range and stops scanning, until the guest's next write faults and tracking resumes.
/// </summary>
public sealed class VramTracker
{
    private readonly CostModel _costs;
    private readonly LogDirtyBitmap _dirty;
    private long _sinceRefreshNs;
    private long _lastWriteNs;
    private long _nowNs;
    private bool _dropped;

    public VramTracker(ulong firstGfn, ulong pages, CostModel costs, long periodNs = 33_333_333, long dropAfterNs = 2_000_000_000)
    {
        FirstGfn = firstGfn;
        Pages = pages;
        PeriodNs = periodNs;
        DropAfterNs = dropAfterNs;
        _costs = costs;
        _dirty = new LogDirtyBitmap(pages);
    }

    public ulong FirstGfn { get; }
    public ulong Pages { get; }
    public long PeriodNs { get; }
    public long DropAfterNs { get; }

    public long Refreshes { get; private set; }
    public long DirtyPagesReturned { get; private set; }
    /// <summary>Simulated CPU time each approach spent, in ns.</summary>
    public double PollingNs { get; private set; }
    public double TrackingNs { get; private set; }
    public double TrackingWithDropNs { get; private set; }
    /// <summary>Times tracking was dropped after two idle seconds, and write faults that took it up again.</summary>
    public long Drops { get; private set; }
    public long Resumes { get; private set; }
    public bool Dropped => _dropped;

    public bool Contains(ulong gfn) => gfn - FirstGfn < Pages;

    /// <summary>A guest write to a page of the range.</summary>
    public void OnWrite(ulong gfn)
    {
        if (!Contains(gfn)) return;
        _lastWriteNs = _nowNs;
        if (_dropped)
        {
            // The range was write-protected: this write faults, and tracking takes up again.
            _dropped = false;
            Resumes++;
            TrackingWithDropNs += _costs.VmExitNs + _costs.ShadowFaultNs;
        }
        _dirty.OnWrite(gfn - FirstGfn);
    }

    /// <summary>Advances time; each period the device model refreshes the display.</summary>
    public void Step(long dtNs)
    {
        _nowNs += dtNs;
        _sinceRefreshNs += dtNs;
        while (_sinceRefreshNs >= PeriodNs)
        {
            _sinceRefreshNs -= PeriodNs;
            Refresh();
        }
    }

    private void Refresh()
    {
        Refreshes++;
        PollingNs += Pages * _costs.VramComparePageNs;
        int n = _dirty.Clean(0, Pages, Span<ulong>.Empty);
        DirtyPagesReturned += n;
        // One hypercall that reads each page's mapping dirty bit, and clears (and flushes) the dirty ones.
        double scan = _costs.HypercallNs + Pages * _costs.WalkRefNs + n * _costs.LogDirtyProtectPageNs;
        TrackingNs += scan;
        if (_dropped)
        {
            TrackingWithDropNs += _costs.HypercallNs;
            return;
        }
        TrackingWithDropNs += scan;
        if (_nowNs - _lastWriteNs >= DropAfterNs)
        {
            // Clean for two seconds: remove write access to the range and stop scanning it.
            _dropped = true;
            Drops++;
            TrackingWithDropNs += Pages * _costs.LogDirtyProtectPageNs;
        }
    }
}
