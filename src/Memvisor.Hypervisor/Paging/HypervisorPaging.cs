using Memvisor.Hypervisor.Compression;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.P2m;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Native;

namespace Memvisor.Hypervisor.Paging;

/// <summary>
/// Hypervisor swapping behind the guest's back, after Xen's xenpaging (mem_paging.c) and ESX's per-VM swap: while a
/// domain holds more than its paging target, the pager picks victims (random or clock; never gfn 0 and never a
/// recently paged-in gfn), and evicts them. On the way out a page is compressed first (ESX memory compression): if
/// it fits in half a page it stays in the domain's compression cache, whose oldest pages go on to swap when it is
/// full; otherwise it is written to the swap file. An all-zero page is simply dropped (except in a Xen PoD domain).
/// The guest's next access brings the page back, and the guest is charged the read or decompression time. If the
/// swap file cannot be written, paging-out stops with an event and the page stays where it was.
/// </summary>
public sealed partial class HypervisorPaging : IDisposable
{
    private const int EmergencyBatch = 32;

    private readonly Host _hv;
    private readonly byte[] _page = new byte[PageSize.Bytes];
    private readonly byte[] _moved = new byte[PageSize.Bytes];
    private readonly byte[] _compressed = new byte[CompressionCache.SlotBytes];
    private readonly HashSet<(ushort DomId, ulong Gfn)> _unreadable = [];
    // The length a synthetic page's bytes compress to (0: incompressible), by handle, worked out by compressing them once.
    private readonly HandleMemo _compressedLengths;
    private SwapFile? _swap;

    internal HypervisorPaging(Host hv, PagingOptions options, CompressionOptions compression)
    {
        _hv = hv;
        Options = options;
        CompressionOptions = compression;
        Codec = compression.Enabled ? new PageCodec(compression.Codec, hv.Costs) : null;
        _compressedLengths = new HandleMemo(hv.Machine.TotalFrames);
    }

    public PagingOptions Options { get; }
    public CompressionOptions CompressionOptions { get; }
    public PageCodec? Codec { get; }
    /// <summary>The live counters, bumped in place; <see cref="Stats"/> and <see cref="Compression"/> are copies for readers.</summary>
    internal PagingStats Counters;
    internal CompressionStats CompressionCounters;
    public PagingStats Stats => Counters;
    public CompressionStats Compression => CompressionCounters;

    /// <summary>Why paging-out stopped, as a sentence; null while it runs.</summary>
    public string? StopReason { get; private set; }
    public long SwapSlotsUsed => _swap?.Used ?? 0;
    public string? SwapName => _swap?.Name;

    /// <summary>Sets a domain's paging target in pages; -1 turns paging off for it (its pages stay where they are until touched).</summary>
    internal void SetTarget(Domain d, long pages) => d.Paging.TargetPages = pages;

    /// <summary>One pager step: every domain above its target evicts toward it at the configured rate.</summary>
    public void Step(long dtNs)
    {
        foreach (var d in _hv.Domains)
        {
            long target = d.Paging.TargetPages;
            // A migration's destination is left alone until its pages have all arrived.
            if (target < 0 || d.IsDying || d.Incoming || d.TotPages <= target)
            {
                d.Paging.Credit = 0;
                continue;
            }
            d.Paging.Credit += Options.RatePagesPerSecond * dtNs / 1e9;
            long n = Math.Min((long)d.Paging.Credit, d.TotPages - target);
            d.Paging.Credit -= n;
            for (long i = 0; i < n && StopReason is null; i++)
                if (!EvictOne(d)) break;
        }
    }

    /// <summary>
    /// Frees frames for an allocation the heap could not serve; false if none could be evicted. Under KVM the host
    /// kernel's LRU runs over every guest's memory (QEMU's anonymous pages): a second-chance clock that visits the
    /// guests in turn, a stride of each, so cold pages go first whichever guest holds them. Elsewhere the pager
    /// evicts pages of the largest HVM guest (PV guests cannot be paged).
    /// </summary>
    internal bool EvictForHost()
    {
        if (StopReason is not null) return false;
        if (_hv.Personality.Kind == Personalities.HypervisorKind.Kvm) return EvictByHostLru();
        Domain? victim = null;
        foreach (var d in _hv.Domains)
            if (!d.IsDom0 && !d.IsDying && !d.IsPv && !d.Incoming && HasSwapRoom(d) && (victim is null || d.TotPages > victim.TotPages)) victim = d;
        if (victim is null || victim.TotPages <= 1) return false;
        int evicted = 0;
        while (evicted < EmergencyBatch && EvictOne(victim)) evicted++;
        Counters.EmergencyEvictions += evicted;
        return evicted > 0;
    }

    // Linux's LRU over all guests, as a clock: each guest's hand looks at up to HostLruStride of its pages in turn,
    // giving a recently accessed page a second chance; two full rounds without a victim give up.
    private const int HostLruStride = 64;
    private long _hostLruGuest;

    private bool EvictByHostLru()
    {
        var domains = _hv.Domains;
        if (domains.Count == 0) return false;
        // Two full turns of every guest's clock at most: the first may only clear accessed flags.
        long strides = 2L * domains.Count;
        foreach (var g in domains) strides += 2 * (long)g.P2m.Capacity / HostLruStride;
        int evicted = 0;
        long idleRounds = 0;
        while (evicted < EmergencyBatch && idleRounds < strides && StopReason is null)
        {
            var d = domains[(int)(_hostLruGuest++ % domains.Count)];
            if (d.IsDom0 || d.IsDying || d.IsPv || d.Incoming || d.P2m.Capacity < 2)
            {
                idleRounds++;
                continue;
            }
            bool found = false;
            ulong looks = HostLruStride;
            while (!found && NextClockVictim(d, ref looks, useAccessed: true, out ulong gfn)) found = Evict(d, gfn);
            if (found) evicted++;
            else idleRounds++;
        }
        Counters.EmergencyEvictions += evicted;
        return evicted > 0;
    }

    /// <summary>Picks a victim by the policy and evicts it; false if there is none or paging-out has stopped.</summary>
    public bool EvictOne(Domain d) => StopReason is null && TryPickVictim(d, out ulong gfn) && Evict(d, gfn);

    private bool Eligible(Domain d, ulong gfn) =>
        gfn != 0 && d.P2m.Get(gfn) is { HasFrame: true } e && !d.Paging.IsRecent(gfn) && !_hv.Grants.IsMapped(e.Mfn);

    private bool TryPickVictim(Domain d, out ulong gfn)
    {
        ulong capacity = d.P2m.Capacity;
        gfn = 0;
        if (capacity < 2) return false;
        if (Options.Policy == EvictionPolicy.Random)
        {
            for (int tries = 0; tries < 64; tries++)
            {
                gfn = 1 + d.Paging.Rng.NextBelow(capacity - 1);
                if (Eligible(d, gfn)) return true;
            }
        }
        // Two turns of the clock at most.
        ulong looks = 2 * capacity;
        return NextClockVictim(d, ref looks, Options.Policy == EvictionPolicy.Clock, out gfn);
    }

    // The domain's clock: advances its hand over at most `looks` gfns (counted down) to the next eligible page; with
    // useAccessed, a page whose accessed flag is set gets a second chance (the flag is cleared).
    private bool NextClockVictim(Domain d, ref ulong looks, bool useAccessed, out ulong gfn)
    {
        ulong capacity = d.P2m.Capacity;
        while (looks > 0)
        {
            looks--;
            gfn = d.Paging.ClockHand;
            d.Paging.ClockHand = gfn + 1 >= capacity ? 1 : gfn + 1;
            if (!Eligible(d, gfn)) continue;
            if (useAccessed && d.P2m.TestAndClearAccessed(gfn)) continue;
            return true;
        }
        gfn = 0;
        return false;
    }

    /// <summary>Evicts the page at gfn, which the domain owns: dropped if zero, else compressed into the cache or written to swap. False (and nothing changed) if it could not be.</summary>
    public bool Evict(Domain d, ulong gfn)
    {
        var e = d.P2m.Get(gfn);
        // A page another domain has mapped through a grant stays (p2m_mem_paging_nominate refuses extra references).
        if (!e.HasFrame || gfn == 0 || StopReason is not null || _hv.Grants.IsMapped(e.Mfn)) return false;
        // A synthetic page whose compressed length is known was compressed before, from its bytes, and is not zero.
        var content = _hv.Machine.Frames[e.Mfn].Content;
        bool known = Codec is not null && content.IsSynthetic && _compressedLengths.TryGet(content.Raw, out _);
        var page = known ? default : _hv.Machine.View(e.Mfn, _page);
        P2mEntry replacement;
        // A zero page is dropped (its gfn becomes populate-on-demand), except in a Xen PoD domain, whose cache would
        // not cover the new entry: there it is paged like any other page, as xenpaging does.
        if (!known && d.Pod is null && PageBytes.IsZero(page))
        {
            replacement = P2mEntry.PopulateOnDemand;
            Counters.ZeroDropped++;
        }
        else if (Codec is not null && TryCompress(d, gfn, content, ref page, out int slot)) replacement = P2mEntry.Compressed(slot);
        else if (TryWriteSwap(d, page.IsEmpty ? _hv.Machine.View(e.Mfn, _page) : page, out long swapSlot)) replacement = P2mEntry.PagedOut(swapSlot);
        else return false;
        _hv.ReleaseFrame(d, e.Mfn);
        // A zero page dropped by the pager breaks a large page for paging, not as a balloon's release would.
        d.P2m.Set(gfn, replacement, countAs: P2mType.PagedOut);
        Counters.PagedOut++;
        return true;
    }

    // Compresses the page into the domain's cache. A synthetic page goes in by its handle with the length its bytes
    // compress to, worked out once per handle; any other page goes in as its compressed bytes.
    private bool TryCompress(Domain d, ulong gfn, ContentHandle content, ref ReadOnlySpan<byte> page, out int slot)
    {
        slot = -1;
        int n;
        if (content.IsSynthetic && _compressedLengths.TryGet(content.Raw, out ulong known)) n = (int)known;
        else
        {
            if (page.IsEmpty) page = _hv.Machine.Contents.View(content, _page);
            n = Codec!.Compress(page, _compressed);
            if (content.IsSynthetic && !PageBytes.IsZero(page)) _compressedLengths.Put(content.Raw, (ulong)n);
        }
        CompressionCounters.CpuNs += Codec!.CompressNs;
        if (n == 0)
        {
            CompressionCounters.Incompressible++;
            return false;
        }
        var cache = CacheFor(d);
        if (cache.IsFull && !MoveOldestToSwap(cache)) return false;
        slot = content.IsSynthetic ? cache.TryStore(gfn, content, n) : cache.TryStore(gfn, _compressed.AsSpan(0, n));
        if (slot < 0) return false;
        CompressionCounters.PagesCompressed++;
        CompressionCounters.CompressedBytesTotal += n;
        return true;
    }

    // A slot's page into `page`: decompressed from its bytes, or generated from the handle it is kept by.
    private bool Decompress(CompressionCache cache, int slot, Span<byte> page)
    {
        if (!cache.TryHandle(slot, out var content)) return Codec!.Decompress(cache.Bytes(slot), page) == PageSize.Bytes;
        _hv.Machine.Contents.Read(content, page);
        return true;
    }

    private CompressionCache CacheFor(Domain d) =>
        d.Compression ??= new CompressionCache(_hv, d, d.PreferredNode, (long)Math.Ceiling(CompressionOptions.CacheShare * d.Config.MemoryPages / 2.0));

    // The cache is full: its oldest page is decompressed and written to swap.
    private bool MoveOldestToSwap(CompressionCache cache)
    {
        if (!cache.TryOldest(out int slot, out ulong gfn)) return false;
        if (!Decompress(cache, slot, _moved))
        {
            _hv.Events.Add("compression", cache.Domain!.Name, $"A compressed page of {cache.Domain!.Name} at gfn {gfn} could not be decompressed; it stays in the cache.");
            return false;
        }
        CompressionCounters.CpuNs += Codec!.DecompressNs;
        if (!TryWriteSwap(cache.Domain!, _moved, out long swapSlot)) return false;
        cache.Free(slot);
        cache.Domain!.P2m.Set(gfn, P2mEntry.PagedOut(swapSlot));
        CompressionCounters.EvictedToSwap++;
        return true;
    }

    /// <summary>Whether the domain's swap has room for another page (ESX's per-VM swap file is sized configured memory less the reservation).</summary>
    public static bool HasSwapRoom(Domain d) => d.Config.SwapLimitPages is not long cap || d.P2m.PagedOutEntries < cap;

    private bool TryWriteSwap(Domain d, ReadOnlySpan<byte> page, out long slot)
    {
        slot = -1;
        if (!HasSwapRoom(d))
        {
            Counters.SwapFileFull++;
            return false;
        }
        if (_swap is null)
        {
            string? error = null;
            _swap = Options.Device is { } device ? SwapFile.Over(device, Options.SwapPages) : SwapFile.TryOpen(Options.SwapFile, Options.SwapPages, out error, Options.SwapFileName);
            if (_swap is null)
            {
                Stop(d, $"{error} Paging-out stopped and every page stays where it was.");
                return false;
            }
        }
        slot = _swap.Allocate();
        if (slot < 0)
        {
            Stop(d, $"{Capitalized(_swap.Name)} is full at {_swap.Capacity} pages; paging-out stopped and every page stays where it was.");
            return false;
        }
        int errno = _swap.Write(slot, page);
        if (errno != 0)
        {
            _swap.Free(slot);
            Counters.WriteErrors++;
            Stop(d, $"{Capitalized(_swap.Name)} could not be written ({Errno.Describe(errno)}); paging-out stopped and the page stays in memory.");
            return false;
        }
        Counters.SwapWrites++;
        Counters.IoNs += _hv.Costs.HvSwapWriteNs;
        return true;
    }

    private void Stop(Domain d, string reason)
    {
        StopReason = reason;
        _hv.Events.Add("paging", d.Name, reason);
    }

    private static string Capitalized(string name) => name.Length == 0 ? name : char.ToUpperInvariant(name[0]) + name[1..];

    /// <summary>
    /// Brings a paged-out or compressed page back on the guest's access (p2m_mem_paging_populate and resume): a frame
    /// is allocated, the bytes read or decompressed into it, and the guest is charged the time. False if no frame
    /// could be had (<paramref name="unreadable"/> false) or the bytes could not be read back or came back wrong
    /// (true; an event says which, the guest is not given the page, and paging-out stops: the device cannot be trusted).
    /// </summary>
    internal bool PageIn(Domain d, ulong gfn, out uint mfn, out bool unreadable)
    {
        unreadable = false;
        // Set when the page comes back by its handle (a synthetic page in the compression cache); else its bytes are in _page.
        var content = ContentHandle.Zero;
        if (!_hv.TryAllocateGuestFrame(d, gfn, out mfn)) return false;
        // Making room may have moved this very page from the cache to swap: read the entry afresh.
        var e = d.P2m.Get(gfn);
        if (e.Type == P2mType.PagedOut)
        {
            int errno = _swap!.Read(e.Slot, _page);
            if (errno != 0)
            {
                _hv.Machine.Free(mfn, 0);
                unreadable = true;
                Unreadable(d, gfn, e.Slot, errno);
                return false;
            }
            _swap.Free(e.Slot);
            Counters.SwapReads++;
            Counters.IoNs += _hv.Costs.HvSwapReadNs;
            d.PendingStallNs += _hv.Costs.VmExitNs + _hv.Costs.HvSwapReadNs;
        }
        else if (e.Type == P2mType.Compressed)
        {
            var cache = d.Compression!;
            if (!cache.TryHandle((int)e.Slot, out content) && !Decompress(cache, (int)e.Slot, _page))
            {
                _hv.Events.Add("compression", d.Name, $"Page gfn {gfn} of {d.Name} could not be decompressed from cache slot {e.Slot}.");
                _hv.Machine.Free(mfn, 0);
                // Its bytes are lost, not short of a frame: the access is refused as unreadable, not as out of memory.
                unreadable = true;
                return false;
            }
            cache.Free((int)e.Slot);
            CompressionCounters.PagesDecompressed++;
            CompressionCounters.CpuNs += Codec!.DecompressNs;
            d.PendingStallNs += _hv.Costs.VmExitNs + Codec.DecompressNs;
        }
        else
        {
            _hv.Machine.Free(mfn, 0);
            return false;
        }
        if (content.IsZero) content = _hv.Machine.Contents.Store(_page);
        else _hv.Machine.Contents.AddRef(content);
        _hv.Machine.SetContent(mfn, content);
        _hv.MapFrame(d, gfn, mfn);
        d.Paging.RememberPagedIn(gfn);
        Counters.PagedIn++;
        return true;
    }

    // A page the swap device failed to return, or returned with other bytes than were written. The access fails rather
    // than hand the guest wrong bytes, as Linux fails a fault on a swap page whose read did not complete (mm/memory.c,
    // do_swap_page: a folio not uptodate gives VM_FAULT_SIGBUS); the per-page checksum that catches a device returning
    // wrong bytes is Memvisor's own. The first failure of each page is an event; paging-out stops at the first, since
    // every later write would go to the same device.
    private void Unreadable(Domain d, ulong gfn, long slot, int errno)
    {
        if (errno == Errno.EBADMSG) Counters.ChecksumErrors++;
        else Counters.ReadErrors++;
        if (!_unreadable.Add((d.DomId, gfn))) return;
        Counters.UnreadablePages = _unreadable.Count;
        _hv.Events.Add("paging", d.Name,
            $"Page gfn {gfn} of {d.Name} could not be read back from slot {slot} of {_swap!.Name} ({Errno.Describe(errno)}); the guest was not given the page.");
        if (StopReason is null)
            Stop(d, $"{Capitalized(_swap.Name)} returned a page it could not read or with the wrong bytes; paging-out stopped, since the device cannot be trusted.");
    }

    /// <summary>Forgets a paged-out or compressed page the domain gave up (decrease_reservation, destroy): its slot is freed.</summary>
    internal void Drop(Domain d, P2mEntry e)
    {
        if (e.Type == P2mType.PagedOut) _swap!.Free(e.Slot);
        else if (e.Type == P2mType.Compressed) d.Compression!.Free((int)e.Slot);
    }

    public void Dispose()
    {
        _swap?.Dispose();
        Codec?.Dispose();
    }
}
