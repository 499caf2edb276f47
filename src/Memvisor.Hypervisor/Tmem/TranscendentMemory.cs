using Memvisor.Hypervisor.Compression;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Native;

namespace Memvisor.Hypervisor.Tmem;

/// <summary>
/// Transcendent memory after Xen's tmem (xen/common/tmem.c) and Linux's cleancache and frontswap: guests put page
/// copies into pools the hypervisor holds in otherwise free memory, keyed by (pool, object, index), and get them
/// back later. An ephemeral pool's pages may be gone on a get (the hypervisor drops them, oldest first, when it
/// needs memory); a persistent pool's pages always come back. A put is refused when it would take the host below
/// its reserve. Pages may be kept compressed (2 KiB slots) and deduplicated by content. Gets are exclusive: the
/// page leaves tmem.
/// </summary>
public sealed partial class TranscendentMemory : IDisposable
{
    private readonly Host _hv;
    private readonly List<TmemPool?> _pools = [];
    // Each client's pools by the id the guest knows (Xen's client->pools[pool_id]): indexes into _pools.
    private readonly Dictionary<ushort, List<int>> _clients = [];
    // Clients being saved or migrated: their puts are refused (Xen's frozen client, tmem.c's -EFROZEN).
    private readonly HashSet<ushort> _frozen = [];
    private readonly Dictionary<TmemKey, TmemEntry> _entries = [];
    private readonly Queue<(TmemKey Key, long Seq)> _ephemeralOrder = new();
    private readonly FrameContentIndex? _dedup;
    private readonly PageCodec? _codec;
    private readonly CompressionCache? _compressed;
    private readonly byte[] _page = new byte[PageSize.Bytes];
    private readonly byte[] _small = new byte[CompressionCache.SlotBytes];
    private long _seq;

    internal TranscendentMemory(Host hv, TmemOptions options, CompressionCodec codec)
    {
        _hv = hv;
        Options = options;
        if (options.Dedup) _dedup = new FrameContentIndex(hv.Machine);
        if (options.Compress)
        {
            _codec = new PageCodec(codec, hv.Costs);
            _compressed = new CompressionCache(hv, null, 0, hv.Machine.TotalFrames / 2);
        }
    }

    public TmemOptions Options { get; }
    /// <summary>The live counters, bumped in place; <see cref="Stats"/> is a copy for readers.</summary>
    internal TmemStats Counters;
    public TmemStats Stats => Counters;

    /// <summary>Pages held, over all pools.</summary>
    public long Pages => _entries.Count;

    /// <summary>Frames tmem takes from the heap now: one per distinct uncompressed page, plus the frames of the compressed slots.</summary>
    public long Frames { get; private set; }
    public long CompressedFrames => _compressed?.Frames ?? 0;

    public IEnumerable<TmemPool> Pools => _pools.Where(p => p is not null)!;

    /// <summary>TMEM_NEW_POOL: a new pool for the domain; its id among the domain's pools, or -1 if tmem is off.</summary>
    internal int NewPool(Domain d, bool persistent)
    {
        if (!Options.Enabled) return -1;
        var client = _clients.TryGetValue(d.DomId, out var c) ? c : _clients[d.DomId] = [];
        // Xen's MAX_POOLS_PER_DOMAIN.
        if (client.Count >= Save.SaveImageTmem.MaxPools) return -1;
        _pools.Add(new TmemPool(_pools.Count, d.DomId, persistent));
        client.Add(_pools.Count - 1);
        return client.Count - 1;
    }

    /// <summary>TMEM_PUT_PAGE: copies the bytes of frame <paramref name="mfn"/> in; false if refused (tmem off, bad pool, host memory short).</summary>
    internal bool Put(Domain d, int pool, ulong obj, uint index, uint mfn)
    {
        if (!TryPool(d, pool, out var p)) return false;
        var key = new TmemKey(p.Id, obj, index);
        if (_entries.ContainsKey(key)) Flush(d, pool, obj, index);
        d.PendingStallNs += _hv.Costs.TmemOpNs;
        if (_frozen.Contains(d.DomId))
        {
            Counters.PutsRefused++;
            return false;
        }
        // A page whose bytes are named by its handle (zero, synthetic, stored) is kept by the handle, as a shared page's
        // copy is; its bytes are needed only to compress it, or to hash it and compare it with a page of another name
        // when deduplicating, and a synthetic page's hash is kept by handle once worked out (Machine.Digests).
        var content = _hv.Machine.Frames[mfn].Content;
        bool byHandle = !content.IsPrivate && _codec is null;
        bool generated = false;
        ReadOnlySpan<byte> page = default;
        ulong hash = 0;
        if (_dedup is not null)
        {
            if (!(content.IsSynthetic && _hv.Machine.Digests.TryGet(content.Raw, out hash)))
            {
                page = _hv.Machine.View(mfn, _page);
                generated = true;
                hash = XxHash.Hash64(page);
                if (content.IsSynthetic && !PageBytes.IsZero(page)) _hv.Machine.Digests.Put(content.Raw, hash);
            }
            uint twin = generated ? _dedup.Find(hash, page, ushort.MaxValue) : _dedup.Find(hash, content, _page, ref generated, ushort.MaxValue);
            if (twin != FrameContentIndex.None)
            {
                _hv.Machine.Frames[twin].RefCount++;
                Add(key, p, new TmemEntry(TmemEntry.FrameKind, twin, 0));
                Counters.DedupHits++;
                return true;
            }
        }
        if (!byHandle && page.IsEmpty) page = generated ? _page : _hv.Machine.View(mfn, _page);
        if (_hv.Machine.FreeFrames <= Options.ReservePages)
        {
            Counters.PutsRefused++;
            return false;
        }
        if (_codec is not null)
        {
            int n = _codec.Compress(page, _small);
            d.PendingStallNs += _codec.CompressNs;
            int slot = n > 0 ? _compressed!.TryStore(0, _small.AsSpan(0, n)) : -1;
            if (slot >= 0)
            {
                Add(key, p, new TmemEntry(TmemEntry.SlotKind, (uint)slot, 0));
                Counters.CompressedPuts++;
                return true;
            }
        }
        if (!_hv.Machine.TryAllocate(0, d.PreferredNode, DomIds.Xen, out uint frame))
        {
            Counters.PutsRefused++;
            return false;
        }
        if (byHandle)
        {
            _hv.Machine.Contents.AddRef(content);
            _hv.Machine.SetContent(frame, content);
        }
        else _hv.Machine.SetContent(frame, _hv.Machine.Contents.Store(page));
        _hv.Machine.Frames[frame].RefCount = 1;
        _dedup?.Add(frame, hash);
        Frames++;
        Add(key, p, new TmemEntry(TmemEntry.FrameKind, frame, 0));
        return true;
    }

    /// <summary>TMEM_GET_PAGE: copies the page into frame <paramref name="mfn"/> and removes it from tmem; false if tmem does not hold it.</summary>
    internal bool Get(Domain d, int pool, ulong obj, uint index, uint mfn)
    {
        if (!TryPool(d, pool, out var p)) return false;
        d.PendingStallNs += _hv.Costs.TmemOpNs;
        var key = new TmemKey(p.Id, obj, index);
        if (!_entries.TryGetValue(key, out var e))
        {
            Counters.GetMisses++;
            return false;
        }
        var held = e.Kind == TmemEntry.FrameKind ? _hv.Machine.Frames[e.Id].Content : ContentHandle.Zero;
        if (e.Kind == TmemEntry.FrameKind && !held.IsPrivate)
        {
            // Copied by its handle, as it was put.
            _hv.Machine.Contents.AddRef(held);
            _hv.Machine.SetContent(mfn, held);
        }
        else
        {
            if (!Read(e, _page))
            {
                Counters.GetMisses++;
                return false;
            }
            if (e.Kind == TmemEntry.SlotKind) d.PendingStallNs += _codec!.DecompressNs;
            _hv.Machine.SetContent(mfn, _hv.Machine.Contents.Store(_page));
        }
        Remove(key);
        Counters.Gets++;
        return true;
    }

    /// <summary>Whether the pool holds (object, index) now; a get that finds nothing is counted as a miss.</summary>
    internal bool Holds(Domain d, int pool, ulong obj, uint index)
    {
        if (TryPool(d, pool, out var p) && _entries.ContainsKey(new TmemKey(p.Id, obj, index))) return true;
        Counters.GetMisses++;
        return false;
    }

    /// <summary>Copies a held page's bytes out without removing it (the guest's integrity checker looks, nothing more).</summary>
    internal bool Peek(Domain d, int pool, ulong obj, uint index, Span<byte> page) =>
        TryPool(d, pool, out var p) && _entries.TryGetValue(new TmemKey(p.Id, obj, index), out var e) && Read(e, page);

    /// <summary>TMEM_FLUSH_PAGE: forgets a page (the guest's copy changed or was freed).</summary>
    internal void Flush(Domain d, int pool, ulong obj, uint index)
    {
        if (!TryPool(d, pool, out var p)) return;
        if (Remove(new TmemKey(p.Id, obj, index))) Counters.Flushes++;
    }

    /// <summary>Drops up to <paramref name="pages"/> ephemeral pages, oldest first, to give memory back to the host; how many were dropped.</summary>
    public long EvictEphemeral(long pages)
    {
        long dropped = 0;
        while (dropped < pages && _ephemeralOrder.TryDequeue(out var item))
        {
            if (!_entries.TryGetValue(item.Key, out var e) || e.Seq != item.Seq) continue;
            Remove(item.Key);
            dropped++;
        }
        Counters.EphemeralEvicted += dropped;
        return dropped;
    }

    /// <summary>Destroys every pool of a domain (the domain is destroyed).</summary>
    internal void DestroyClient(Domain d)
    {
        foreach (var key in _entries.Keys.Where(k => _pools[k.Pool]!.DomId == d.DomId).ToList()) Remove(key);
        for (int i = 0; i < _pools.Count; i++)
            if (_pools[i]?.DomId == d.DomId) _pools[i] = null;
        _clients.Remove(d.DomId);
        _frozen.Remove(d.DomId);
    }

    // The domain's pool the guest names by its id among the domain's pools.
    private bool TryPool(Domain d, int pool, out TmemPool p)
    {
        p = null!;
        if (!_clients.TryGetValue(d.DomId, out var client) || pool < 0 || pool >= client.Count || _pools[client[pool]] is not { } found) return false;
        p = found;
        return true;
    }

    private void Add(TmemKey key, TmemPool p, TmemEntry e)
    {
        e = e with { Seq = ++_seq };
        _entries[key] = e;
        p.Pages++;
        Counters.Puts++;
        if (!p.Persistent) _ephemeralOrder.Enqueue((key, e.Seq));
    }

    private bool Read(TmemEntry e, Span<byte> page)
    {
        if (e.Kind == TmemEntry.SlotKind)
            return _codec!.Decompress(_compressed!.Bytes((int)e.Id), page) == PageSize.Bytes;
        _hv.Machine.ReadFrame(e.Id, page);
        return true;
    }

    private bool Remove(TmemKey key)
    {
        if (!_entries.Remove(key, out var e)) return false;
        _pools[key.Pool]!.Pages--;
        if (e.Kind == TmemEntry.SlotKind)
        {
            _compressed!.Free((int)e.Id);
            return true;
        }
        ref var f = ref _hv.Machine.Frames[e.Id];
        if (--f.RefCount > 0) return true;
        _dedup?.Remove(e.Id);
        _hv.Machine.Free(e.Id, 0);
        Frames--;
        return true;
    }

    public void Dispose() => _codec?.Dispose();

    private readonly record struct TmemKey(int Pool, ulong Object, uint Index);

    private readonly record struct TmemEntry(byte Kind, uint Id, long Seq)
    {
        public const byte FrameKind = 0;
        public const byte SlotKind = 1;
    }
}
