using Memvisor.Hypervisor.Domains;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;

namespace Memvisor.Hypervisor.Tmem;

/// <summary>One pool of a client as a save or a migration carries it: its kind and, for a persistent pool, its pages.</summary>
internal sealed record TmemPoolImage(bool Persistent, IReadOnlyList<TmemPageImage> Pages);

/// <summary>A persistent pool's page in an image or a stream: its key, and its content handle (zero or synthetic) or its bytes.</summary>
internal readonly record struct TmemPageImage(ulong Object, uint Index, ContentHandle Content, byte[]? Bytes);

// A client's pools across a save or a migration, after Xen's tmem save (tools/libxc/xc_tmem.c, xc_tmem_save and
// xc_tmem_restore, and xen/common/tmem.c's XEN_SYSCTL_TMEM_OP_SAVE_BEGIN, until Xen 4.13 removed tmem): the client
// is frozen (its puts refused) while it is read; every pool goes with its id and kind, a persistent pool with its
// pages, an ephemeral one empty (its pages may be dropped at any time anyway); the restore makes the pools again
// under the same ids and puts the pages back.
public sealed partial class TranscendentMemory
{
    /// <summary>Freezes or thaws the domain's client: while frozen, its puts are refused (the guest keeps the page).</summary>
    internal void Freeze(Domain d, bool frozen)
    {
        if (frozen) _frozen.Add(d.DomId);
        else _frozen.Remove(d.DomId);
    }

    /// <summary>Whether the domain has pools.</summary>
    internal bool HasPools(Domain d) => _clients.TryGetValue(d.DomId, out var c) && c.Count > 0;

    /// <summary>The domain's pools in the order of their ids, persistent ones with their pages in key order; null if one could not be read.</summary>
    internal IReadOnlyList<TmemPoolImage>? Export(Domain d)
    {
        if (!_clients.TryGetValue(d.DomId, out var client)) return [];
        var pools = new List<TmemPoolImage>(client.Count);
        foreach (int id in client)
        {
            var pool = _pools[id]!;
            var pages = new List<TmemPageImage>();
            if (pool.Persistent)
                foreach (var (key, e) in _entries.Where(kv => kv.Key.Pool == id).OrderBy(kv => kv.Key.Object).ThenBy(kv => kv.Key.Index))
                {
                    // Zero and synthetic pages go by their handle; any other page's bytes go (a stored page's handle names
                    // this host's content store only).
                    var content = e.Kind == TmemEntry.FrameKind ? _hv.Machine.Frames[e.Id].Content : ContentHandle.Zero;
                    if (e.Kind == TmemEntry.FrameKind && (content.IsZero || content.IsSynthetic))
                    {
                        pages.Add(new TmemPageImage(key.Object, key.Index, content, null));
                        continue;
                    }
                    var bytes = new byte[PageSize.Bytes];
                    if (!Read(e, bytes)) return null;
                    pages.Add(new TmemPageImage(key.Object, key.Index, ContentHandle.Zero, bytes));
                }
            pools.Add(new TmemPoolImage(pool.Persistent, pages));
        }
        return pools;
    }

    /// <summary>
    /// Makes the saved pools again for <paramref name="d"/> under the same ids and puts their pages back (through a
    /// scratch frame, as the restore's put copies from a buffer). False, with whatever was made left to the domain's
    /// destruction, if tmem is off here or a put was refused.
    /// </summary>
    internal bool Import(Domain d, IReadOnlyList<TmemPoolImage> pools)
    {
        if (pools.Count == 0) return true;
        if (!Options.Enabled) return false;
        // The toolstack's puts, not the guest's: the guest is not charged for them.
        double stall = d.PendingStallNs;
        bool done = PutAll(d, pools);
        d.PendingStallNs = stall;
        return done;
    }

    private bool PutAll(Domain d, IReadOnlyList<TmemPoolImage> pools)
    {
        foreach (var image in pools)
        {
            int pool = NewPool(d, image.Persistent);
            foreach (var page in image.Pages)
            {
                if (!_hv.Machine.TryAllocate(0, d.PreferredNode, DomIds.Xen, out uint scratch)) return false;
                if (page.Bytes is { } bytes) _hv.Machine.WriteFrame(scratch, bytes);
                else
                {
                    _hv.Machine.Contents.AddRef(page.Content);
                    _hv.Machine.SetContent(scratch, page.Content);
                }
                bool put = Put(d, pool, page.Object, page.Index, scratch);
                _hv.Machine.SetContent(scratch, ContentHandle.Zero);
                _hv.Machine.Free(scratch, 0);
                if (!put) return false;
            }
        }
        return true;
    }

    /// <summary>The persistent pages the domain's pools hold: frames a restore or a migration needs for them at most.</summary>
    internal long PersistentPages(Domain d) =>
        _clients.TryGetValue(d.DomId, out var client) ? client.Sum(id => _pools[id]!.Persistent ? _pools[id]!.Pages : 0) : 0;
}
