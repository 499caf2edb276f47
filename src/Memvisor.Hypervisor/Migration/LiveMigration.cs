using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.P2m;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;

namespace Memvisor.Hypervisor.Migration;

/// <summary>
/// A live migration by pre-copy (Clark et al., "Live Migration of Virtual Machines", NSDI'05; libxc's
/// tools/libs/guest/xg_sr_save.c, send_domain_memory_live): with the source in log-dirty mode, the first round sends
/// every page while the guest runs, each later round the pages dirtied during the one before, until a round leaves
/// fewer dirty pages than the policy's target or the round limit is reached; then the guest is paused and the last
/// dirty pages (and those deferred) are sent: the stop-and-copy, whose length is the downtime. The destination domain
/// was built and its memory claimed at the start; pages are written into it as they arrive, and at the end it takes
/// over the guest's port and vCPU and the source is destroyed. The link sends <see cref="MigrationOptions.BandwidthBytesPerSecond"/>
/// while the simulation steps it. With <see cref="MigrationOptions.PostCopyAfterRounds"/> the guest moves before its
/// last pages do (LiveMigrationPostCopy.cs).
/// </summary>
public sealed partial class LiveMigration : IPostCopySource
{
    private const int RecordHeaderBytes = 8;
    // A tmem page's record: its object (8 bytes), index (4) and pool (4), then its 4 KiB; a flush is the record alone.
    private const int TmemRecordBytes = 16;
    private readonly Host _from, _to;
    private readonly Domain _source, _target;
    private readonly MigrationOptions _options;
    private readonly ulong[] _dirty;
    private readonly List<ulong> _round = [];
    private readonly SortedSet<ulong> _deferred = [];
    // PV page tables the destination holds as gfns, by level, localized when it takes over.
    private readonly SortedDictionary<ulong, int> _tables = [];
    private readonly byte[] _page = new byte[PageSize.Bytes];
    private int _next;
    private long _roundPages;
    private double _budgetBytes;
    private long _elapsedNs;
    private double _readBackNs;

    internal LiveMigration(Host from, Host to, Domain source, Domain target, MigrationOptions options)
    {
        (_from, _to, _source, _target, _options) = (from, to, source, target, options);
        _dirty = new ulong[source.P2m.Capacity];
        // The guest's persistent tmem pages go first (xc_tmem_save, before the memory), at the link's pace.
        Stats.TmemPages = from.Tmem.PersistentPages(source);
        Stats.BytesSent += Stats.TmemPages * (TmemRecordBytes + PageSize.Bytes);
        _budgetBytes = -Stats.TmemPages * (TmemRecordBytes + PageSize.Bytes);
        source.P2m.ForEachPresent((gfn, e) =>
        {
            if (!e.IsGrantMap) _round.Add(gfn);
        });
    }

    public MigrationPhase Phase { get; private set; } = MigrationPhase.PreCopy;
    public MigrationStats Stats { get; } = new();
    /// <summary>The domain on the destination host: being filled during pre-copy, running the guest once done.</summary>
    public Domain Destination => _target;
    public string DomainName => _source.Name;

    /// <summary>
    /// Sends what the link carries in <paramref name="dtNs"/> of simulated time from the current round; a round that
    /// ends closes the step, so that the guest runs between rounds. When the pre-copy ends, the stop-and-copy runs at
    /// once (the guest is not stepped while it does; its downtime is charged to the guest as stall) and the
    /// destination takes over.
    /// </summary>
    public void Step(long dtNs)
    {
        if (Phase == MigrationPhase.PostCopy)
        {
            StepPostCopy(dtNs);
            return;
        }
        if (Phase != MigrationPhase.PreCopy) return;
        if (_from.Find(_source.DomId) != _source || _source.IsCrashed)
        {
            Fail("the source domain was destroyed or crashed during the migration");
            return;
        }
        if (_options.PostCopyAfterRounds == 0)
        {
            // Pure post-copy: the guest moves before any page is sent, and every page it has then follows it.
            _source.Mmu?.Submit();
            var all = new SortedSet<ulong>();
            _source.P2m.ForEachPresent((gfn, e) =>
            {
                if (!e.IsGrantMap) all.Add(gfn);
            });
            // And what the guest gave back since the claim, which the destination must give back too.
            _target.P2m.ForEachPresent((gfn, _) => all.Add(gfn));
            SwitchToPostCopy(all, 0);
            return;
        }
        _elapsedNs += dtNs;
        Stats.TotalNs = _elapsedNs;
        _budgetBytes += _options.BandwidthBytesPerSecond * dtNs / 1e9;
        while (_next < _round.Count && _budgetBytes > 0)
        {
            long bytes = Send(_round[_next++], final: false);
            if (bytes < 0) return;
            _budgetBytes -= bytes;
        }
        // A round that ends here ends the step: the guest runs (and dirties pages) before the next round starts, which
        // the rest of the step's bandwidth is kept for.
        if (_next == _round.Count) EndRound();
    }

    // A round has been sent: the policy looks at what was dirtied meanwhile (xc_logdirty_control CLEAN).
    private void EndRound()
    {
        Stats.EndRound(_roundPages);
        // A PV guest's queued page-table updates reach its tables (and the bitmap) before the bitmap is read.
        _source.Mmu?.Submit();
        // The bitmap covers the address space the migration started with (Xen sizes it then, too).
        if (_source.P2m.Capacity > (ulong)_dirty.Length)
        {
            Fail("the domain's physical address space grew during the migration");
            return;
        }
        int dirty = _source.Mmu!.ReadLogDirty(clean: true, _dirty);
        if (dirty < 0)
        {
            Fail("log-dirty mode was turned off during the migration");
            return;
        }
        if (dirty >= _options.TargetDirtyPages && Stats.Rounds >= _options.PostCopyAfterRounds)
        {
            var stale = new List<ulong>(_deferred);
            for (int i = 0; i < dirty; i++) stale.Add(_dirty[i]);
            SwitchToPostCopy(stale, dirty);
            return;
        }
        if (dirty < _options.TargetDirtyPages || Stats.Rounds >= _options.MaxIterations)
        {
            StopAndCopy(dirty);
            return;
        }
        _round.Clear();
        for (int i = 0; i < dirty; i++) _round.Add(_dirty[i]);
        (_next, _roundPages) = (0, 0);
    }

    // The guest is paused; the pages dirtied since the last round and those deferred go, and the destination takes over.
    private void StopAndCopy(int dirty)
    {
        Stats.WritableWorkingSetPages = dirty;
        var last = new SortedSet<ulong>(_deferred);
        for (int i = 0; i < dirty; i++) last.Add(_dirty[i]);
        long bytes = 0;
        foreach (ulong gfn in last)
        {
            long sent = Send(gfn, final: true);
            if (sent < 0) return;
            bytes += sent;
        }
        // The tmem pools, sent before the rounds, arrive with what was flushed from them since (xc_tmem_save_extra).
        var tmem = _from.Tmem.Export(_source);
        if (tmem is null || !_to.Tmem.Import(_target, tmem))
        {
            Fail("the guest's tmem pages could not be read on the source or put on the destination");
            return;
        }
        long flushed = Stats.TmemPages - tmem.Sum(p => (long)p.Pages.Count);
        bytes += flushed * TmemRecordBytes;
        Stats.BytesSent += flushed * TmemRecordBytes;
        Stats.StopAndCopyPages = last.Count;
        Stats.DowntimeNs = (long)(bytes / _options.BandwidthBytesPerSecond * 1e9 + _readBackNs) + _options.LatencyNs;
        Stats.TotalNs = _elapsedNs + Stats.DowntimeNs;
        _source.MigratingOut = false;
        _source.Mmu!.DisableLogDirty();
        _to.CompleteMigration(_target, _from.Keep(_source), Stats.DowntimeNs, [.. _tables.Select(t => (t.Key, t.Value))]);
        _from.DestroyDomain(_source.DomId);
        Phase = MigrationPhase.Done;
    }

    // Sends one page record: what the source has at gfn now, written into the destination. Returns its bytes on the
    // link, or -1 if the destination could not hold it (the migration has then failed).
    private long Send(ulong gfn, bool final)
    {
        var e = _source.P2m.Get(gfn);
        if (e.Type == P2mType.PopulateOnDemand && _source.Pod is not null && !_from.ReadPodEntry(_source, gfn, out e))
            return Fail("the source ran out of PoD memory while its pages were read (p2m_pod_demand_populate crashed it)");
        _tables.Remove(gfn);
        switch (e.Type)
        {
            case P2mType.PagedOut or P2mType.Compressed when !final:
                // Xen's save cannot map a paged-out page: it is deferred to the stop-and-copy.
                if (_deferred.Add(gfn)) Stats.DeferredPages++;
                return 0;
            case P2mType.PagedOut or P2mType.Compressed:
                _readBackNs += e.Type == P2mType.PagedOut ? _from.Costs.HvSwapReadNs : _from.Paging.Codec?.DecompressNs ?? 0;
                break;
            case not (P2mType.Ram or P2mType.Shared):
                // Nothing there, or populate-on-demand: the destination has the same.
                _to.DropEntry(_target, gfn);
                if (e.Type == P2mType.PopulateOnDemand) _target.P2m.Set(gfn, P2mEntry.PopulateOnDemand);
                return Sent(gfn, RecordHeaderBytes);
        }
        if (!_from.ReadForMove(_source, e, _page, out var content, out bool bytes, out int level))
            return Fail($"gfn {gfn} could not be read back from the source's swap");
        if (level > 0) _tables[gfn] = level;
        if (!_to.ReceivePage(_target, gfn, content, bytes ? _page : default))
            return Fail($"the destination host had no free frame for gfn {gfn}");
        bool flag = !bytes && content.IsZero && _options.ZeroPageDetection;
        return Sent(gfn, RecordHeaderBytes + (flag ? 0 : PageSize.Bytes));
    }

    private long Sent(ulong gfn, long bytes)
    {
        if (_deferred.Count > 0 && _source.P2m.Get(gfn).Type is not (P2mType.PagedOut or P2mType.Compressed)) _deferred.Remove(gfn);
        _roundPages++;
        Stats.PagesSent++;
        Stats.BytesSent += bytes;
        return bytes;
    }

    // The migration is abandoned: the destination domain goes, the source leaves log-dirty mode and keeps running.
    private long Fail(string why)
    {
        if (Phase != MigrationPhase.PreCopy) return -1;
        Stats.FailedBecause = why;
        Stats.TotalNs = _elapsedNs;
        Phase = MigrationPhase.Failed;
        _source.MigratingOut = false;
        _source.Mmu?.DisableLogDirty();
        _from.Tmem.Freeze(_source, false);
        _to.DestroyDomain(_target.DomId);
        bool running = _from.Find(_source.DomId) == _source && !_source.IsCrashed;
        _from.Events.Add("migration", _source.Name, $"The migration of {_source.Name} failed: {why}{(running ? "; it keeps running on its host" : "")}.");
        return -1;
    }
}
