using Memvisor.Hypervisor.Tmem;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;

namespace Memvisor.Hypervisor.Save;

/// <summary>
/// The tmem section of a save image, after the page records: the client's pool count, then each pool's kind (1 for
/// persistent), its page count and, for a persistent pool, its pages in ascending (object, index) order, each a
/// record of the same kinds as a page's (zero, a synthetic page's handle, or 4 KiB). As Xen's xc_tmem_save wrote it
/// after the memory (pools, then each persistent page's object, index and bytes).
/// </summary>
internal static class SaveImageTmem
{
    /// <summary>Xen's MAX_POOLS_PER_DOMAIN.</summary>
    public const int MaxPools = 16;

    public static void Put(SaveImage.Writer w, IReadOnlyList<TmemPoolImage> pools)
    {
        w.PutU64((ulong)pools.Count);
        foreach (var pool in pools)
        {
            w.PutByte(pool.Persistent ? (byte)1 : (byte)0);
            w.PutU64((ulong)pool.Pages.Count);
            foreach (var page in pool.Pages)
            {
                w.PutU64(page.Object);
                w.PutU64(page.Index);
                if (page.Bytes is { } bytes)
                {
                    w.PutByte((byte)SaveImage.Kind.Bytes);
                    w.Put(bytes);
                }
                else if (page.Content.IsZero) w.PutByte((byte)SaveImage.Kind.Zero);
                else
                {
                    w.PutByte((byte)SaveImage.Kind.Handle);
                    w.PutU64(page.Content.Raw);
                }
            }
        }
    }

    /// <summary>Reads the section; false if it is malformed. <paramref name="poolCount"/> and <paramref name="pages"/> count the pools and the persistent pages; <paramref name="pools"/> is filled only when <paramref name="keep"/>.</summary>
    public static bool Get(SaveImage.Reader r, bool keep, out List<TmemPoolImage> pools, out int poolCount, out long pages)
    {
        pools = [];
        pages = 0;
        poolCount = 0;
        var scratch = keep ? null : new byte[PageSize.Bytes];
        if (!r.GetU64(out ulong count) || count > MaxPools) return false;
        poolCount = (int)count;
        for (ulong p = 0; p < count; p++)
        {
            if (!r.GetByte(out byte persistent) || persistent > 1 || !r.GetU64(out ulong n)) return false;
            // An ephemeral pool goes empty; no pool holds more pages than an image could.
            if ((persistent == 0 && n != 0) || n > int.MaxValue) return false;
            var list = new List<TmemPageImage>();
            (ulong Object, ulong Index) last = (0, 0);
            for (ulong i = 0; i < n; i++)
            {
                if (!r.GetU64(out ulong obj) || !r.GetU64(out ulong index) || index > uint.MaxValue || !r.GetByte(out byte kind)) return false;
                if (i > 0 && (obj, index).CompareTo(last) <= 0) return false;
                last = (obj, index);
                var content = ContentHandle.Zero;
                byte[]? bytes = null;
                switch ((SaveImage.Kind)kind)
                {
                    case SaveImage.Kind.Zero: break;
                    case SaveImage.Kind.Handle:
                        if (!r.GetU64(out ulong raw) || !SaveImage.Generable(new ContentHandle(raw))) return false;
                        content = new ContentHandle(raw);
                        break;
                    case SaveImage.Kind.Bytes:
                        bytes = scratch ?? new byte[PageSize.Bytes];
                        if (!r.Get(bytes)) return false;
                        break;
                    default: return false;
                }
                pages++;
                if (keep) list.Add(new TmemPageImage(obj, (uint)index, content, bytes));
            }
            if (keep) pools.Add(new TmemPoolImage(persistent == 1, list));
        }
        return true;
    }
}
