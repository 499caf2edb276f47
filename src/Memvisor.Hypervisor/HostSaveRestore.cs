using System.Collections;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Save;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Seam;

namespace Memvisor.Hypervisor;

// xl save and xl restore (tools/libs/guest/xg_sr_save.c and xg_sr_restore.c): a domain's memory and p2m to an image,
// the domain destroyed; later a new domain built from the image, and the guest resumed in it.
public sealed partial class Host
{
    /// <summary>
    /// xl save: writes the domain's memory and p2m to <paramref name="image"/> (see <see cref="SaveImage"/>), then
    /// destroys the domain. Paged-out and compressed pages are read back from the host's swap or cache without being
    /// brought in; shared pages are written once and named by the later gfns that share the frame. A Xen PoD domain's
    /// populate-on-demand entries are populated from its cache as they are read (see <see cref="ReadPodEntry"/>), so
    /// its image holds every page, and its tmem pools follow its memory (<see cref="SaveImageTmem"/>). Refused, with
    /// the domain left running, for dom0, or when a page cannot be read back; the image is then incomplete and the
    /// caller discards it. A PoD domain whose cache and sweep run dry while it is read is crashed, as Xen does.
    /// </summary>
    public XenErrno SaveDomain(ushort domid, Stream image, out SavedDomain? saved, out SaveStats stats)
    {
        const string call = "save";
        saved = null;
        stats = default;
        if (!TryGetDomain(domid, call, 0, out var d, out var missing)) return missing;
        var movable = CheckMovable(d, call);
        if (movable != XenErrno.Ok) return movable;
        // A PV guest's queued page-table updates go into its tables before they are written.
        d.Mmu?.Submit();

        long records = 0;
        d.P2m.ForEachPresent((_, e) => records += e.IsGrantMap ? 0 : 1);
        var header = new SaveImage.Header(d.Name, d.MaxPages, d.TargetPages, d.P2m.Capacity, records);
        // An image the reader would refuse is not written, and the domain keeps running.
        if (!header.Valid) return Refusals.Record(domid, d.Name, call, XenErrno.EINVAL, RefusalCause.SaveNameTooLong, 0, 0);
        var writer = new SaveImage.Writer(image);
        writer.PutHeader(header);
        var firstGfnOf = new Dictionary<uint, ulong>();
        var page = new byte[PageSize.Bytes];
        var counts = default(SaveStats);
        bool readable = true;
        ulong unreadableGfn = 0;
        d.P2m.ForEachPresent((gfn, e) =>
        {
            if (!readable || e.IsGrantMap) return;
            if (e.Type == P2mType.PopulateOnDemand && d.Pod is not null && !ReadPodEntry(d, gfn, out e))
            {
                readable = false;
                unreadableGfn = gfn;
                return;
            }
            writer.PutU64(gfn);
            switch (e.Type)
            {
                case P2mType.PopulateOnDemand:
                    writer.PutByte((byte)SaveImage.Kind.Pod);
                    counts.PodEntries++;
                    return;
                case P2mType.Shared when firstGfnOf.TryGetValue(e.Mfn, out ulong first):
                    writer.PutByte((byte)SaveImage.Kind.Same);
                    writer.PutU64(first);
                    counts.Pages++;
                    counts.DuplicatePages++;
                    return;
                case P2mType.Shared:
                    firstGfnOf[e.Mfn] = gfn;
                    break;
                case P2mType.PagedOut or P2mType.Compressed:
                    counts.PagesReadBack++;
                    break;
            }
            // Paged out or compressed: read back where it is (Xen's save maps it, which pages it in first).
            if (!ReadForMove(d, e, page, out var content, out bool bytes, out int level))
            {
                readable = false;
                unreadableGfn = gfn;
                return;
            }
            counts.Pages++;
            if (level > 0)
            {
                writer.PutByte((byte)SaveImage.Kind.Table);
                writer.PutU64((ulong)level);
                writer.Put(page);
                counts.BytePages++;
            }
            else if (bytes)
            {
                writer.PutByte((byte)SaveImage.Kind.Bytes);
                writer.Put(page);
                counts.BytePages++;
            }
            else if (content.IsZero)
            {
                writer.PutByte((byte)SaveImage.Kind.Zero);
                counts.ZeroPages++;
            }
            else
            {
                writer.PutByte((byte)SaveImage.Kind.Handle);
                writer.PutU64(content.Raw);
                counts.HandlePages++;
            }
        });
        // The client's tmem pools follow the memory (xc_tmem_save): frontswap pages must come back.
        var tmem = readable ? Tmem.Export(d) : null;
        if (readable && tmem is null) (readable, unreadableGfn) = (false, 0);
        if (!readable && d.IsCrashed) return Refusals.Record(domid, d.Name, call, XenErrno.EFAULT, RefusalCause.DomainCrashed, (long)unreadableGfn, 0);
        if (!readable) return Refusals.Record(domid, d.Name, call, XenErrno.EIO, RefusalCause.PageUnreadable, (long)unreadableGfn, 0);
        SaveImageTmem.Put(writer, tmem!);
        counts.TmemPages = tmem!.Sum(p => (long)p.Pages.Count);
        writer.Finish();
        // The image is on its way to the disk before the domain goes: a write that fails now leaves it running.
        image.Flush();
        counts.FileBytes = writer.Length;
        saved = Keep(d);
        DestroyDomain(domid);
        stats = counts;
        return XenErrno.Ok;
    }

    /// <summary>
    /// xl restore: reads <paramref name="image"/> whole first (its structure, its hash, and that the heap can hold it;
    /// a bad image or a short heap changes nothing), then builds a new domain (a new domid, as Xen's restore makes),
    /// puts every recorded page in a frame of its own (pages that were shared are shared no more; the scanner may
    /// merge them again), and hands it the guest's port and vCPU so that the guest resumes where it was saved.
    /// </summary>
    public XenErrno RestoreDomain(SavedDomain saved, Stream image, out Domain? domain, out SaveStats stats)
    {
        const string call = "restore";
        domain = null;
        stats = default;
        if (saved.Restored) return Refusals.Record(DomIds.Invalid, saved.Name, call, XenErrno.EINVAL, RefusalCause.NotSaved, 0, 0);
        if (!image.CanSeek) return Refusals.Record(DomIds.Invalid, saved.Name, call, XenErrno.EINVAL, RefusalCause.SaveImageInvalid, 0, 0);
        if (!CheckImage(saved, image, out var header, out long frames, out long tmemPages, out bool tmemPools))
            return Refusals.Record(DomIds.Invalid, saved.Name, call, XenErrno.EINVAL, RefusalCause.SaveImageInvalid, 0, 0);
        // The guest's pools can only be made again where tmem is on.
        if (tmemPools && !Tmem.Options.Enabled) return Refusals.Record(DomIds.Invalid, saved.Name, call, XenErrno.EOPNOTSUPP, RefusalCause.NotOnThisHypervisor, 0, 0);
        var config = MovedConfig(saved.Config, header.MaxPages);
        long needed = HeldPagesFor(config, Personality) + frames + TmemImportPages(tmemPages);
        if (needed > Machine.FreeFrames) return Refusals.Record(DomIds.Invalid, saved.Name, call, XenErrno.ENOMEM, RefusalCause.OutOfMemory, needed, Machine.FreeFrames);
        var built = Build(config, 0, out var d);
        if (built != XenErrno.Ok || d is null) return built;
        for (long gfn = 0; gfn < config.MemoryPages; gfn++) d.P2m.Set((ulong)gfn, P2mEntry.Invalid);
        d.P2m.Grow(header.P2mCapacity);

        image.Position = 0;
        var reader = new SaveImage.Reader(image);
        reader.GetHeader(out _);
        var page = new byte[PageSize.Bytes];
        var counts = default(SaveStats);
        var tables = new List<(ulong Gfn, int Level)>();
        for (long i = 0; i < header.Records; i++)
        {
            reader.GetU64(out ulong gfn);
            reader.GetByte(out byte kind);
            if ((SaveImage.Kind)kind == SaveImage.Kind.Pod)
            {
                d.P2m.Set(gfn, P2mEntry.PopulateOnDemand);
                counts.PodEntries++;
                continue;
            }
            if (!Machine.TryAllocate(0, d.NodeFor(gfn), d.DomId, out uint mfn))
                throw new InvalidOperationException("The heap refused a frame for a restore that its free count allowed; the buddy heap is inconsistent.");
            var content = ContentHandle.Zero;
            switch ((SaveImage.Kind)kind)
            {
                case SaveImage.Kind.Zero: counts.ZeroPages++; break;
                case SaveImage.Kind.Handle:
                    reader.GetU64(out ulong raw);
                    content = new ContentHandle(raw);
                    counts.HandlePages++;
                    break;
                case SaveImage.Kind.Table:
                    reader.GetU64(out ulong level);
                    reader.Get(page);
                    content = Machine.Contents.Store(page);
                    tables.Add((gfn, (int)level));
                    counts.BytePages++;
                    break;
                case SaveImage.Kind.Same:
                    reader.GetU64(out ulong first);
                    content = Machine.Frames[d.P2m.Get(first).Mfn].Content;
                    counts.DuplicatePages++;
                    break;
                default:
                    reader.Get(page);
                    content = Machine.Contents.Store(page);
                    counts.BytePages++;
                    break;
            }
            if (kind is (byte)SaveImage.Kind.Handle or (byte)SaveImage.Kind.Same) Machine.Contents.AddRef(content);
            Machine.SetContent(mfn, content);
            MapFrame(d, gfn, mfn);
            counts.Pages++;
        }
        SaveImageTmem.Get(reader, keep: true, out var pools, out _, out counts.TmemPages);
        if (!Tmem.Import(d, pools))
        {
            DestroyDomain(d.DomId);
            return Refusals.Record(DomIds.Invalid, saved.Name, call, XenErrno.ENOMEM, RefusalCause.OutOfMemory, tmemPages, Machine.FreeFrames);
        }
        counts.FileBytes = image.Length;
        d.MaxPages = header.MaxPages;
        d.TargetPages = header.TargetPages;
        TakeOver(d, saved, tables);
        saved.Restored = true;
        domain = d;
        stats = counts;
        return XenErrno.Ok;
    }

    /// <summary>
    /// What a save or a migration carries for a page the domain holds (in a frame of its own or shared, paged out or
    /// compressed): its content handle when it is zero or synthetic, else its bytes in <paramref name="page"/>; a PV
    /// page table's bytes with its entries' frames as gfns, and its level (0 for any other page). False if a paged
    /// page could not be read back.
    /// </summary>
    internal bool ReadForMove(Domain d, P2mEntry e, Span<byte> page, out ContentHandle content, out bool bytes, out int tableLevel)
    {
        content = ContentHandle.Zero;
        bytes = false;
        tableLevel = e.Type == P2mType.Ram ? PvTables.LevelOf(this, e.Mfn) : 0;
        if (tableLevel > 0)
        {
            PvTables.Canonicalize(this, e.Mfn, tableLevel, page);
            bytes = true;
            return true;
        }
        if (e.Type is P2mType.Ram or P2mType.Shared)
        {
            content = Machine.Frames[e.Mfn].Content;
            bytes = !content.IsZero && !content.IsSynthetic;
            if (bytes) Machine.ReadFrame(e.Mfn, page);
            return true;
        }
        if (!Paging.Peek(d, e, page, out content)) return false;
        bytes = content.IsZero && page.IndexOfAnyExcept((byte)0) >= 0;
        return true;
    }

    // What the guest's new domain takes over from its old one: its store keys, counters, port and vCPU.
    internal SavedDomain Keep(Domain d)
    {
        string root = StorePath(d, "");
        var keys = Store.List(root[..^1]).Where(kv => kv.Key.StartsWith(root, StringComparison.Ordinal));
        return new SavedDomain(d, [.. keys.Select(kv => (kv.Key[root.Length..], kv.Value))]);
    }

    // The domain built for a saved or migrating guest takes it over: its counters and store keys (under the new
    // domid), and the guest's port and vCPU, which now reach the new domain.
    internal void TakeOver(Domain d, SavedDomain saved, IReadOnlyList<(ulong Gfn, int Level)> pvTables)
    {
        d.Counters = saved.Counters;
        // The paging target in effect, not the configuration's: set by an action or a policy since the build.
        d.Paging.TargetPages = saved.PagingTargetPages;
        foreach (var (key, value) in saved.Store) Store.Write(StorePath(d, key), value);
        saved.Port.MoveTo(this, d);
        d.Port = saved.Port;
        saved.Mmu.MoveTo(this, d);
        d.Mmu = saved.Mmu;
        if (saved.Mmu is not Mmu.Pv.PvMmu pv) return;
        // A PV guest's tables came as gfns: they name this domain's frames again, then are pinned (and validated).
        bool whole = true;
        foreach (var (gfn, level) in pvTables) whole &= PvTables.Localize(this, d, gfn, level);
        if (!whole || !pv.Repin(saved.PvPinned, saved.PvBase))
            CrashDomain(d, "its page tables did not validate after the move");
    }

    /// <summary>
    /// Xen's save reads each gfn's type with P2M_ALLOC (XEN_DOMCTL_getpageframeinfo3 calls get_page_from_gfn), which
    /// populates a PoD entry from the domain's cache (p2m_pod_demand_populate): the page is then a zero page of its own.
    /// False if the cache and its emergency sweep ran dry, and the domain was crashed.
    /// </summary>
    internal bool ReadPodEntry(Domain d, ulong gfn, out P2mEntry e)
    {
        bool populated = PodPopulate(d, gfn, out _);
        e = d.P2m.Get(gfn);
        return populated;
    }

    // What putting a guest's frontswap pages back takes of the heap at most: a frame each, tmem's reserve (a put that
    // would dig into it is refused) and the scratch frame the put copies from.
    internal long TmemImportPages(long pages) => pages == 0 ? 0 : pages + Tmem.Options.ReservePages + 1;

    // The configuration a saved or migrating domain is built from again: its max_pages now, and on Xen no PoD cache:
    // libxl's restore builds none (xc_domain_set_pod_target is the domain builder's), and every page comes populated.
    private DomainConfig MovedConfig(DomainConfig c, long maxPages)
    {
        var config = c with { MemoryPages = Math.Min(c.MemoryPages, maxPages), MaxPages = maxPages };
        return config.Allocation == AllocationMode.OnDemand && Personality.OnDemand == Personalities.OnDemandModel.PodCache
            ? config with { Allocation = AllocationMode.Static, PhysmapPages = null }
            : config;
    }

    // Why a domain cannot be saved or migrated: it is dom0, or a post-copy migration is still bringing its pages.
    private XenErrno CheckMovable(Domain d, string call)
    {
        if (d.IsDom0) return Refusals.Record(d.DomId, d.Name, call, XenErrno.EPERM, RefusalCause.NotPermitted, 0, 0);
        // A post-copy destination whose pages have not all arrived is still the migration's.
        if (d.Incoming) return Refusals.Record(d.DomId, d.Name, call, XenErrno.EBUSY, RefusalCause.NotPermitted, 0, 0);
        // A PV domain's tables that map granted frames cannot be written as gfns (Xen's normalise_pagetable fails on them).
        if (d.IsPv && Grants.MappingsHeldBy(d.DomId).Any(m => m.HasPte))
            return Refusals.Record(d.DomId, d.Name, call, XenErrno.EBUSY, RefusalCause.GrantMapped, 0, 0);
        return XenErrno.Ok;
    }

    /// <summary>The pages a restore from <paramref name="image"/> would take from the heap (its frames and the domain's reserve); false if the image is not one this restore would accept.</summary>
    public bool RestorePagesNeeded(SavedDomain saved, Stream image, out long pages)
    {
        pages = 0;
        if (saved.Restored || !image.CanSeek || !CheckImage(saved, image, out var header, out long frames, out long tmemPages, out _)) return false;
        pages = HeldPagesFor(MovedConfig(saved.Config, header.MaxPages), Personality) + frames + TmemImportPages(tmemPages);
        return true;
    }

    // The first pass of a restore: the image is well formed, for this domain, and complete; counts the frames it needs.
    private static bool CheckImage(SavedDomain saved, Stream image, out SaveImage.Header header, out long frames, out long tmemPages, out bool tmemPools)
    {
        frames = 0;
        tmemPages = 0;
        tmemPools = false;
        image.Position = 0;
        var reader = new SaveImage.Reader(image);
        // The image must be this domain's: its name and its physical address space.
        if (!reader.GetHeader(out header) || header.Name != saved.Name || header.P2mCapacity != saved.P2mCapacity) return false;
        var framed = new BitArray((int)header.P2mCapacity);
        long last = -1;
        Span<byte> payload = stackalloc byte[PageSize.Bytes + 8];
        for (long i = 0; i < header.Records; i++)
        {
            if (!reader.GetU64(out ulong gfn) || !reader.GetByte(out byte kind) || gfn >= header.P2mCapacity || (long)gfn <= last) return false;
            last = (long)gfn;
            int length = SaveImage.PayloadBytes(kind);
            if (length < 0 || !reader.Get(payload[..length])) return false;
            if (kind == (byte)SaveImage.Kind.Pod) continue;
            if (kind == (byte)SaveImage.Kind.Table && System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(payload) is < 1 or > 4) return false;
            // A handle must be a synthetic page's: the others name this process's content store.
            if (kind == (byte)SaveImage.Kind.Handle && !SaveImage.Generable(new ContentHandle(System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(payload)))) return false;
            // A shared page names an earlier gfn of the image that has a frame.
            if (kind == (byte)SaveImage.Kind.Same && System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(payload) is var first
                && (first >= gfn || !framed[(int)first]))
                return false;
            framed[(int)gfn] = true;
            frames++;
        }
        // No more pages than max_pages allows (the hypervisor never lets tot_pages above it).
        if (frames > header.MaxPages || !SaveImageTmem.Get(reader, keep: false, out _, out int pools, out tmemPages)) return false;
        tmemPools = pools > 0;
        return reader.Finish();
    }
}
