using Memvisor.Hypervisor.P2m;
using Memvisor.Machine.Frames;

namespace Memvisor.Hypervisor.Migration;

// Post-copy, after QEMU's postcopy-ram (migration/postcopy-ram.c, migration/ram.c) and Hines and Gopalan, "Post-copy
// based live virtual machine migration using adaptive pre-paging and dynamic self-ballooning" (VEE'09): the guest
// moves to the destination at once, before its last pages; a page it touches there before it arrived is fetched
// from the source while it waits (a userfaultfd fault and a request on the return path), and the source pushes the
// others in the background, going on from the page last asked for (ram.c's get_queued_page moves its scan there).
// Every page crosses the link once, but until the last arrives the guest depends on both hosts.
public sealed partial class LiveMigration
{
    private ulong[] _remote = [];
    private int _pushAt;
    private long _switchedAtNs;

    // The guest moves: the pages not current on the destination become remote there (their frames stay claimed), the
    // rest of the state goes with a pause as long as the bitmap of remote pages takes on the link, and the source,
    // paused, stays until every page has left it.
    private void SwitchToPostCopy(IEnumerable<ulong> stale, int dirtyInLastRound)
    {
        if (_from.HasFrontswapPages(_source))
        {
            Fail("the guest put frontswap pages in tmem during the migration, which the stream does not carry");
            return;
        }
        var remote = new List<ulong>();
        long bytes = RecordHeaderBytes + (long)(_source.P2m.Capacity + 7) / 8;
        foreach (ulong gfn in new SortedSet<ulong>(stale))
        {
            _deferred.Remove(gfn);
            var e = _source.P2m.Get(gfn);
            if (e.IsGrantMap || !(e.IsMapped || e.Type is P2mType.PagedOut or P2mType.Compressed))
            {
                // Nothing there now (given back, or never touched): the destination has the same, in the bitmap.
                _to.DropEntry(_target, gfn);
                if (e.Type == P2mType.PopulateOnDemand) _target.P2m.Set(gfn, P2mEntry.PopulateOnDemand);
                continue;
            }
            // A page the destination has no claimed frame for yet (populated since the claim) gets one now.
            if (!_target.P2m.Get(gfn).OwnsFrame && !_to.ReceivePage(_target, gfn, Machine.Content.ContentHandle.Zero, default))
            {
                Fail($"the destination host had no free frame for gfn {gfn}");
                return;
            }
            _target.P2m.Set(gfn, P2mEntry.Remote(_target.P2m.Get(gfn).Mfn));
            remote.Add(gfn);
        }
        _remote = [.. remote];
        Stats.PostCopy = true;
        Stats.WritableWorkingSetPages = dirtyInLastRound;
        Stats.RemotePagesAtSwitch = _remote.Length;
        Stats.BytesSent += bytes;
        Stats.DowntimeNs = (long)(bytes / _options.BandwidthBytesPerSecond * 1e9) + _options.LatencyNs;
        _switchedAtNs = _elapsedNs;
        Stats.TotalNs = _elapsedNs + Stats.DowntimeNs;
        _source.Mmu!.DisableLogDirty();
        _to.CompleteMigration(_target, _from.Keep(_source), Stats.DowntimeNs, []);
        // Until its pages are all here, nothing but the migration moves them (no sharing, no paging).
        _target.Incoming = true;
        _target.PostCopy = this;
        Phase = MigrationPhase.PostCopy;
        if (_remote.Length == 0) FinishPostCopy();
    }

    // The background push: what the link carries in the step, after what the guest's faults took of it.
    private void StepPostCopy(long dtNs)
    {
        _elapsedNs += dtNs;
        Stats.TotalNs = _elapsedNs + Stats.DowntimeNs;
        Stats.PostCopyNs = _elapsedNs - _switchedAtNs;
        if (_to.Find(_target.DomId) != _target || _target.IsCrashed)
        {
            EndPostCopy("the destination domain was destroyed or crashed before its pages had all arrived; the source goes too");
            return;
        }
        if (_from.Find(_source.DomId) != _source || _source.IsCrashed)
        {
            _to.CrashDomain(_target, "its post-copy migration lost the source, which held pages it had not yet received");
            EndPostCopy("the source domain went or crashed before every page had left it; the guest is lost");
            return;
        }
        _budgetBytes += _options.BandwidthBytesPerSecond * dtNs / 1e9;
        for (int looked = 0; _budgetBytes > 0 && _target.P2m.RemoteEntries > 0 && looked < _remote.Length; looked++)
        {
            if (_pushAt >= _remote.Length) _pushAt = 0;
            ulong gfn = _remote[_pushAt++];
            if (_target.P2m.Get(gfn).Type != P2mType.Remote) continue;
            long bytes = Bring(gfn, out _);
            if (bytes < 0)
            {
                _to.CrashDomain(_target, $"its post-copy migration could not read gfn {gfn} back from the source's swap");
                EndPostCopy($"gfn {gfn} could not be read back from the source's swap; the guest is lost");
                return;
            }
            _budgetBytes -= bytes;
            Stats.PagesPushed++;
        }
        if (_target.P2m.RemoteEntries == 0) FinishPostCopy();
    }

    /// <inheritdoc/>
    public bool Fetch(ulong gfn)
    {
        if (Phase != MigrationPhase.PostCopy || _target.P2m.Get(gfn).Type != P2mType.Remote) return false;
        long bytes = Bring(gfn, out double readBackNs);
        if (bytes < 0) return false;
        // A request on the return path and the page back: a round trip, the page's bytes, and the source's read-back.
        long waitNs = 2 * _options.LatencyNs + (long)(bytes / _options.BandwidthBytesPerSecond * 1e9 + readBackNs);
        _target.PendingStallNs += waitNs;
        _budgetBytes -= bytes;
        Stats.PagesFetchedOnFault++;
        Stats.FaultWaitNs += waitNs;
        // The push goes on from the page after this one.
        int at = Array.BinarySearch(_remote, gfn);
        _pushAt = at < 0 ? ~at : at + 1;
        return true;
    }

    // One remote page crosses: the source's page (read back if paged out or compressed) into the frame claimed for
    // it, which the destination's p2m now maps. Its bytes on the link, or -1 if it could not be read back.
    private long Bring(ulong gfn, out double readBackNs)
    {
        var e = _source.P2m.Get(gfn);
        readBackNs = e.Type switch
        {
            P2mType.PagedOut => _from.Costs.HvSwapReadNs,
            P2mType.Compressed => _from.Paging.Codec?.DecompressNs ?? 0,
            _ => 0,
        };
        // A zero page the source host's pager dropped rather than wrote to swap, while the source was paused, is a zero page still.
        var content = Machine.Content.ContentHandle.Zero;
        bool bytes = false;
        if (e.Type != P2mType.PopulateOnDemand && !_from.ReadForMove(_source, e, _page, out content, out bytes, out _)) return -1;
        uint mfn = _target.P2m.Get(gfn).Mfn;
        _target.P2m.Set(gfn, P2mEntry.Ram(mfn));
        _to.ReceivePage(_target, gfn, content, bytes ? _page : default);
        bool flag = !bytes && content.IsZero && _options.ZeroPageDetection;
        long sent = RecordHeaderBytes + (flag ? 0 : PageSize.Bytes);
        Stats.PagesSent++;
        Stats.BytesSent += sent;
        return sent;
    }

    // Every page has arrived: the source goes, and the destination is a domain like any other.
    private void FinishPostCopy()
    {
        Stats.PostCopyNs = _elapsedNs - _switchedAtNs;
        _source.MigratingOut = false;
        Stats.TotalNs = _elapsedNs + Stats.DowntimeNs;
        _target.Incoming = false;
        _target.PostCopy = null;
        _from.DestroyDomain(_source.DomId);
        Phase = MigrationPhase.Done;
    }

    // Post-copy cannot go on: neither side can run the guest alone.
    private void EndPostCopy(string why)
    {
        Stats.FailedBecause = why;
        Phase = MigrationPhase.Failed;
        _target.PostCopy = null;
        if (_from.Find(_source.DomId) == _source) _from.DestroyDomain(_source.DomId);
        _from.Events.Add("migration", _source.Name, $"The post-copy migration of {_source.Name} failed: {why}.");
    }
}
