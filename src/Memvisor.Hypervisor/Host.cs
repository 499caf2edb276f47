using System.Diagnostics.CodeAnalysis;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.Events;
using Memvisor.Hypervisor.Memory;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Paging;
using Memvisor.Seam;
using Memvisor.Hypervisor.Grants;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Hypervisor.Store;
using Memvisor.Hypervisor.Tmem;
using Memvisor.Machine;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;

using Memvisor.Hypervisor.Tiers;

namespace Memvisor.Hypervisor;

/// <summary>
/// The hypervisor's memory manager: owns machine memory and the m2p, builds and destroys domains, and serves the
/// memory_op hypercalls (see <see cref="MemoryOp"/>). Follows Xen's xen/common/domain.c and memory.c.
/// </summary>
public sealed partial class Host : IDisposable
{
    /// <summary>Machine memory Xen itself keeps per frame: 32-byte page_info plus 8-byte m2p entry, taken from the host at boot.</summary>
    public const int XenBytesPerFrame = 40;

    private readonly List<Domain> _domains = [];
    private readonly Dictionary<ushort, Domain> _byId = [];
    private ushort _nextDomId = 1;

    public Host(MachineMemory machine, CostModel costs, Func<long> now, OvercommitOptions? overcommit = null)
    {
        Machine = machine;
        Costs = costs;
        Now = now;
        Overcommit = overcommit ?? new OvercommitOptions();
        M2p = new M2p(machine.TotalFrames);
        Refusals = new RefusalLog(now);
        Events = new HostEventLog(now);
        MemoryOp = new MemoryOp(this);
        DomCtl = new DomCtl(this);
        Sharing = new PageSharing(this, Overcommit.Sharing);
        Paging = new HypervisorPaging(this, Overcommit.Paging, Overcommit.Compression);
        Tmem = new TranscendentMemory(this, Overcommit.Tmem, Overcommit.Compression.Codec);
        SmartPaging = new Paging.SmartPaging(this);
        Grants = new GrantOps(this);
        BootPages = (machine.TotalFrames * XenBytesPerFrame + PageSize.Bytes - 1) / PageSize.Bytes;
        for (long i = 0; i < BootPages; i++)
        {
            if (!machine.TryAllocate(0, 0, DomIds.Xen, out uint mfn))
                throw new ArgumentException("The machine is too small to hold the hypervisor's own frame table.", nameof(machine));
            machine.Frames[mfn].Flags |= FrameFlags.XenHeap;
        }
        InitTiers();
        Tiering = new TieringDaemon(this, Overcommit.Tiering);
    }

    public MachineMemory Machine { get; }
    /// <summary>Transparent tiering between the memory nodes (host.tiering).</summary>
    public TieringDaemon Tiering { get; }
    public CostModel Costs { get; }
    public Func<long> Now { get; }
    public M2p M2p { get; }
    public RefusalLog Refusals { get; }
    public MemoryOp MemoryOp { get; }
    public DomCtl DomCtl { get; }
    public HostEventLog Events { get; }
    public OvercommitOptions Overcommit { get; }

    /// <summary>Which hypervisor this host is (host.hypervisor).</summary>
    public Personalities.HostPersonality Personality => Overcommit.Personality;
    /// <summary>Whether a first touch takes a whole 2 MiB page where it can (host.large_pages, or the hypervisor's default).</summary>
    public bool LargePagesOnFirstTouch => Overcommit.LargePages ?? Personality.LargePagesOnFirstTouch;

    /// <summary>Whether the sharing scanner may share a page inside a 2 MiB page now: always on Xen and KVM; on ESX once free memory is below the High state's threshold.</summary>
    public bool MayBreakLargePages => Personality.LargePageSharing == Personalities.LargePageSharing.Split
        || Machine.FreeFrames < Personalities.EsxMinFree.BreakLargePagesAt * Personalities.EsxMinFree.Pages(Machine.TotalFrames);

    public PageSharing Sharing { get; }
    public HypervisorPaging Paging { get; }
    public TranscendentMemory Tmem { get; }
    /// <summary>The grant tables and their hypercalls.</summary>
    public GrantOps Grants { get; }
    /// <summary>Hyper-V's Smart Paging of domains restarted short of their startup memory.</summary>
    public Paging.SmartPaging SmartPaging { get; }

    /// <summary>The store the toolstack and the guests talk through (xenstored's, kept beside the hypervisor here).</summary>
    public XenStore Store { get; } = new();

    /// <summary>Frames the hypervisor took at boot for its own frame table and m2p.</summary>
    public long BootPages { get; }

    /// <summary>Live domains in domid order.</summary>
    public IReadOnlyList<Domain> Domains => _domains;

    public Domain? Find(ushort domid) => _byId.GetValueOrDefault(domid);

    /// <summary>The live domain <paramref name="domid"/> for a <paramref name="call"/> on it; one that is not there is refused with ESRCH, recorded, in <paramref name="missing"/>.</summary>
    internal bool TryGetDomain(ushort domid, string call, long requested, [NotNullWhen(true)] out Domain? domain, out XenErrno missing)
    {
        missing = XenErrno.Ok;
        if (_byId.TryGetValue(domid, out domain)) return true;
        missing = Refusals.Record(domid, $"domain {domid}", call, XenErrno.ESRCH, RefusalCause.NoSuchDomain, requested, 0);
        return false;
    }

    /// <summary>The host's memory as squeezed sees it, and whether it adds up.</summary>
    public HostAccounting Account()
    {
        long owned = 0, reserve = 0, compression = Tmem.CompressedFrames;
        foreach (var d in _domains)
        {
            owned += d.TotPages;
            reserve += d.ReservePages;
            compression += d.Compression?.Frames ?? 0;
        }
        return new HostAccounting(Machine.TotalFrames, Machine.FreeFrames, Machine.Scrubber.PendingFrames, owned,
            Sharing.SharedFrames, compression, Tmem.Frames, BootPages + reserve + Grants.TableFrames);
    }

    /// <summary>One step of the host's background mechanisms: the sharing scanner, the pager, and tmem giving memory back when the host runs short.</summary>
    public void Step(long dtNs)
    {
        Sharing.Step(dtNs);
        Paging.Step(dtNs);
        foreach (var d in _domains)
        {
            if (!d.IsDom0) d.StepActivity(dtNs);
            d.Vram?.Step(dtNs);
        }
        SmartPaging.Step();
        Tiering.Step(dtNs);
        long shortBy = Overcommit.Tmem.ReservePages - Machine.FreeFrames;
        if (shortBy > 0) Tmem.EvictEphemeral(shortBy);
    }

    /// <summary>
    /// A frame for a domain's page when the guest needs one now (a first touch, a copy-on-write break, a page-in).
    /// When the heap is empty the host makes room: tmem's ephemeral pages go first, then the pager evicts pages of
    /// the largest guest. False only when nothing can be freed.
    /// </summary>
    internal bool TryAllocateGuestFrame(Domain d, ulong gfn, out uint mfn)
    {
        for (int attempt = 0; attempt < 8; attempt++)
        {
            if (Machine.TryAllocate(0, d.NodeFor(gfn), d.DomId, out mfn)) return true;
            if (Tmem.EvictEphemeral(32) > 0) continue;
            // Hyper-V's Smart Paging: a domain restarted short of its startup memory pages its own memory to disk.
            if (d.SmartPaging && Paging.EvictOne(d))
            {
                Paging.Counters.SmartPagingEvictions++;
                continue;
            }
            // ESX and KVM swap guests out when the host runs short; Xen pages only when xenpaging was set up.
            if (!(Personality.SwapsWhenShort || Overcommit.Paging.Configured) || !Paging.EvictForHost()) break;
        }
        mfn = 0;
        return false;
    }

    /// <summary>Maps a frame the domain now owns at gfn: p2m, m2p and tot_pages.</summary>
    internal void MapFrame(Domain d, ulong gfn, uint mfn)
    {
        d.P2m.Set(gfn, P2mEntry.Ram(mfn));
        M2p[mfn] = (uint)gfn;
        d.TotPages++;
        MarkDirty(d, gfn);
    }

    /// <summary>
    /// A change to what gfn holds that is not a guest write (a page populated, removed, or filled by the hypervisor)
    /// goes into the log-dirty bitmap, as Xen's p2m changes call paging_mark_dirty, so that a migration resends it.
    /// </summary>
    internal static void MarkDirty(Domain d, ulong gfn) => d.Mmu?.LogDirty?.OnWrite(gfn);

    /// <summary>Frees a frame the domain owned (its p2m entry is the caller's to change): m2p, tot_pages, the heap.</summary>
    internal void ReleaseFrame(Domain d, uint mfn)
    {
        M2p[mfn] = P2m.M2p.Invalid;
        Machine.Free(mfn, 0);
        d.TotPages--;
    }

    /// <summary>Removes whatever the domain has at gfn (guest_remove_page): its frame, its share of a shared frame, or its swap or cache slot.</summary>
    internal void DropEntry(Domain d, ulong gfn)
    {
        var e = d.P2m.Get(gfn);
        switch (e.Type)
        {
            case P2mType.Ram or P2mType.Remote: ReleaseFrame(d, e.Mfn); break;
            case P2mType.Shared: Sharing.Drop(e.Mfn); break;
            case P2mType.PagedOut or P2mType.Compressed: Paging.Drop(d, e); break;
            case P2mType.GrantMapRw or P2mType.GrantMapRo: Grants.UnmapAt(d, gfn); break;
        }
        if (e.Type is not (P2mType.Invalid or P2mType.PopulateOnDemand) && !e.IsGrantMap) d.Counters.PagesReleased++;
        d.P2m.Set(gfn, P2mEntry.Invalid);
        MarkDirty(d, gfn);
    }

    /// <summary>Gives a domain the port its guest kernel uses to reach the hypervisor.</summary>
    public IGuestMemory PortFor(Domain domain) => domain.Port;

    /// <summary>The grant-table operations of the domain's guest kernel (its split drivers'), through the same port.</summary>
    public IGuestGrants GrantsFor(Domain domain) => (IGuestGrants)domain.Port;

    /// <summary>Gives the domain's vCPU the MMU of <paramref name="options"/>' mode (scenario <c>mmu:</c>); the domain keeps it as <see cref="Domain.Mmu"/>.</summary>
    public Mmu.GuestMmu AttachMmu(Domain domain, Mmu.MmuOptions options) =>
        domain.Mmu = Mmu.GuestMmu.Create(this, domain, domain.Port, options);

    public void Dispose()
    {
        Paging.Dispose();
        Tmem.Dispose();
    }

    /// <summary>A key of the domain's store subtree as an absolute path.</summary>
    public static string StorePath(Domain d, string key) => XenStore.DomainPath(d.DomId) + "/" + key;

}
