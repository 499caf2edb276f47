using Memvisor.Guest.Kernel;
using Memvisor.Guest.Memory;
using Memvisor.Seam;
using Memvisor.Machine.Frames;

namespace Memvisor.Guest.Hotplug;

/// <summary>
/// Memory hot-plug after virtio-mem and Hyper-V Dynamic Memory's Hot Add: the guest boots with its memory size and
/// sees the rest of its physical space, up to maxmem, as blocks it may plug. The toolstack writes how much it wants
/// plugged (memory/hotplug/requested); the guest plugs blocks (populate_physmap, then onlines them into its
/// allocator) or unplugs them: a block goes offline only if every page in it can be moved out (free pages are
/// isolated, anonymous pages migrated to a free page elsewhere, page-cache pages dropped after write-back); a block
/// holding kernel or page-table pages cannot, as in Linux, and the next block is tried.
/// </summary>
public sealed class HotplugDriver
{
    private const int Batch = 512;
    private readonly GuestKernel _k;
    private readonly bool _onDemand;
    private readonly ulong[] _batch = new ulong[Batch];
    private readonly List<ulong> _isolated = [];
    private bool[] _plugged = [];
    private bool[] _mark = [];
    private double _credit;

    public HotplugDriver(GuestKernel k, bool onDemand, long bootPages)
    {
        _k = k;
        _onDemand = onDemand;
        BootPages = bootPages;
    }

    public HotplugOptions Options => _k.Options.Hotplug;
    public long BootPages { get; }
    public long PluggedBlocks { get; private set; }
    public long PluggedPages => PluggedBlocks * Options.BlockPages;
    /// <summary>Memory the guest has online: its boot memory and its plugged blocks.</summary>
    public long AddressablePages => BootPages + PluggedPages;
    /// <summary>What the toolstack asked to have plugged, in pages.</summary>
    public long RequestedPages { get; private set; }
    private long Blocks => Math.Max(0, (_k.Pages.Length - BootPages) / Options.BlockPages);

    public bool IsOnline(ulong gfn)
    {
        if ((long)gfn < BootPages) return true;
        long b = ((long)gfn - BootPages) / Options.BlockPages;
        return b < _plugged.Length && _plugged[b];
    }

    public void Connect()
    {
        _k.Memory.Store.Watch(StoreKeys.HotplugRequested);
        _k.Memory.Store.Write(StoreKeys.HotplugPlugged, 0);
    }

    public void OnStoreEvent(string key)
    {
        if (key == StoreKeys.HotplugRequested)
            RequestedPages = Math.Max(0, _k.Memory.Store.ReadLong(StoreKeys.HotplugRequested, 0) / PageSize.KiB);
    }

    public void Step(long dtNs)
    {
        if (_plugged.Length < Blocks) Array.Resize(ref _plugged, (int)Blocks);
        long wantBlocks = Math.Min(RequestedPages / Options.BlockPages, Blocks);
        if (wantBlocks == PluggedBlocks)
        {
            _credit = 0;
            return;
        }
        _credit = Math.Min(_credit + Options.BlocksPerSecond * dtNs / 1e9, Math.Max(1, Options.BlocksPerSecond));
        bool changed = false;
        while (_credit >= 1 && wantBlocks != PluggedBlocks)
        {
            _credit -= 1;
            bool ok = wantBlocks > PluggedBlocks ? PlugOne() : UnplugOne();
            if (!ok)
            {
                _k.Counters.HotplugFailures++;
                _credit = 0;
                break;
            }
            changed = true;
        }
        if (!changed) return;
        _k.Allocator.SetWatermarks();
        _k.Memory.Store.Write(StoreKeys.HotplugPlugged, PageSize.ToKiB(PluggedPages));
    }

    private ulong First(long block) => (ulong)(BootPages + block * Options.BlockPages);

    // Plugs the lowest unplugged block: populates it and onlines its pages; all or nothing.
    private bool PlugOne()
    {
        long block = Array.IndexOf(_plugged, false);
        if (block < 0) return false;
        ulong first = First(block);
        long pages = Options.BlockPages;
        for (long done = 0; done < pages; done += Batch)
        {
            int n = (int)Math.Min(Batch, pages - done);
            for (int i = 0; i < n; i++) _batch[i] = first + (ulong)(done + i);
            if (_k.Memory.PopulatePhysmap(_batch.AsSpan(0, n), 0, _onDemand) == XenErrno.Ok) continue;
            GiveBack(first, done);
            return false;
        }
        for (long i = 0; i < pages; i++) _k.Allocator.AddHeld(first + (ulong)i);
        _plugged[block] = true;
        PluggedBlocks++;
        _k.Counters.HotplugPagesAdded += pages;
        return true;
    }

    // Unplugs the highest plugged block that can be offlined.
    private bool UnplugOne()
    {
        for (long block = _plugged.Length - 1; block >= 0; block--)
        {
            if (!_plugged[block] || !TryOffline(First(block))) continue;
            _plugged[block] = false;
            PluggedBlocks--;
            return true;
        }
        return false;
    }

    private bool TryOffline(ulong first)
    {
        long pages = Options.BlockPages;
        for (long i = 0; i < pages; i++)
            if (_k.Pages.UseOf(first + (ulong)i) is PageUse.Kernel or PageUse.PageTable) return false;
        _isolated.Clear();
        if (_mark.Length != pages) _mark = new bool[pages];
        Array.Clear(_mark);
        // First the free pages, so that migration never picks a target inside the block.
        for (long i = 0; i < pages; i++)
            if (_k.Pages.UseOf(first + (ulong)i) == PageUse.Free && _k.Allocator.TryTakeSpecific(first + (ulong)i)) Isolate(first, first + (ulong)i);
        bool ok = true;
        for (long i = 0; i < pages && ok; i++)
        {
            ulong gfn = first + (ulong)i;
            if (_mark[i]) continue;
            switch (_k.Pages.UseOf(gfn))
            {
                case PageUse.Unheld: continue;
                case PageUse.Free: ok = _k.Allocator.TryTakeSpecific(gfn); break;
                case PageUse.Anon: ok = Migrate(gfn, first, pages); break;
                case PageUse.File:
                    _k.Pages.Remove(gfn);
                    _k.Stall(_k.Reclaimer.EvictFilePage(gfn));
                    _k.Pages.Assign(gfn, PageUse.Free, 0, 0);
                    break;
                default: ok = false; break;
            }
            if (ok) Isolate(first, gfn);
        }
        ok = ok && Release();
        if (!ok)
        {
            foreach (ulong gfn in _isolated) _k.Allocator.Give(gfn);
            _k.Counters.HotplugOfflineFailures++;
            return false;
        }
        foreach (ulong gfn in _isolated) _k.Allocator.RemoveHeld(gfn);
        _k.Counters.HotplugPagesRemoved += _isolated.Count;
        return true;
    }

    private void Isolate(ulong first, ulong gfn)
    {
        _mark[gfn - first] = true;
        _isolated.Add(gfn);
    }

    // Gives the isolated pages to the hypervisor.
    private bool Release()
    {
        for (int done = 0; done < _isolated.Count; done += Batch)
        {
            int n = Math.Min(Batch, _isolated.Count - done);
            for (int i = 0; i < n; i++) _batch[i] = _isolated[done + i];
            if (_k.Memory.DecreaseReservation(_batch.AsSpan(0, n), 0) == XenErrno.Ok) continue;
            // The pages given so far are gone; only those not yet given go back to the allocator.
            for (int i = done - 1; i >= 0; i--)
            {
                _k.Allocator.RemoveHeld(_isolated[i]);
                _k.Counters.HotplugPagesRemoved++;
            }
            _isolated.RemoveRange(0, done);
            return false;
        }
        return true;
    }

    // Migrates an anonymous page to a free page outside the block: copies its bytes, moves its descriptor and its
    // LRU place, and repoints its PTE (Linux's migrate_pages for a movable block).
    private bool Migrate(ulong gfn, ulong first, long pages)
    {
        ulong to;
        while (true)
        {
            if (!_k.TryAllocateNoRetry(out to)) return false;
            if (to < first || to >= first + (ulong)pages) break;
            // Reclaim freed a page of the block itself: keep it isolated and look again.
            Isolate(first, to);
        }
        // Reclaim may have taken the page itself meanwhile.
        if (_k.Pages.UseOf(gfn) != PageUse.Anon)
        {
            _k.Allocator.Give(to);
            return _k.Pages.UseOf(gfn) == PageUse.Free && _k.Allocator.TryTakeSpecific(gfn);
        }
        if (!_k.MoveAnonPage(gfn, to))
        {
            _k.Allocator.Give(to);
            return false;
        }
        return true;
    }

    // Undoes a partly populated plug: the pages populated so far go back to the hypervisor.
    private void GiveBack(ulong first, long populated)
    {
        for (long done = 0; done < populated; done += Batch)
        {
            int n = (int)Math.Min(Batch, populated - done);
            for (int i = 0; i < n; i++) _batch[i] = first + (ulong)(done + i);
            _k.Memory.DecreaseReservation(_batch.AsSpan(0, n), 0);
        }
    }
}
