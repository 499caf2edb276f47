using Memvisor.Hypervisor.Compression;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Paging;
using Memvisor.Hypervisor.WorkingSet;
using Memvisor.Seam;

namespace Memvisor.Hypervisor.Domains;

/// <summary>A domain as the hypervisor keeps it: its reservation (tot_pages, max_pages), p2m and hypervisor reserve.</summary>
public sealed class Domain
{
    internal Domain(ushort domId, DomainConfig config, int node, int mruSize, ActivityOptions activity)
    {
        Activity = new ActivitySampler(activity, 0xE5C0_0000UL + domId);
        Paging = new DomainPaging((int)Math.Min(mruSize, Math.Max(1, config.MaxPages / 4)), domId);
        DomId = domId;
        Config = config;
        Name = config.Name;
        MaxPages = config.MaxPages;
        TargetPages = config.MemoryPages;
        PreferredNode = node;
        if (config.Vnodes is { Count: > 1 } vnodes)
        {
            // Where each vnode after the first starts (gfn) and the host node its pages come from.
            _vnodeStarts = new ulong[vnodes.Count];
            _vnodePnodes = new int[vnodes.Count];
            ulong start = 0;
            for (int i = 0; i < vnodes.Count; i++)
            {
                (_vnodeStarts[i], _vnodePnodes[i]) = (start, i == 0 ? node : vnodes[i].Pnode);
                start += (ulong)vnodes[i].Pages;
            }
        }
        P2m = new P2mTable((ulong)config.MaxPages);
        _isSampleable = gfn => P2m.Get(gfn).Type is not (P2mType.Invalid or P2mType.PopulateOnDemand);
    }

    public ushort DomId { get; }
    public string Name { get; }
    public DomainConfig Config { get; }
    public bool IsDom0 => Config.IsDom0;
    public AllocationMode Allocation => Config.Allocation;
    public int PreferredNode { get; }
    private readonly ulong[]? _vnodeStarts;
    private readonly int[]? _vnodePnodes;

    /// <summary>The host node a page of this gfn comes from first: its vnode's (xl.cfg vnuma), or the domain's preferred node.</summary>
    public int NodeFor(ulong gfn)
    {
        if (_vnodeStarts is not { } starts) return PreferredNode;
        int i = starts.Length - 1;
        while (i > 0 && gfn < starts[i]) i--;
        return _vnodePnodes![i];
    }

    /// <summary>Frames the domain holds (Xen's d->tot_pages).</summary>
    public long TotPages { get; internal set; }

    /// <summary>The most it may hold (d->max_pages, set by max_mem).</summary>
    public long MaxPages { get; internal set; }

    /// <summary>The balloon target the toolstack last set (mirrored in the store's memory/target, in KiB).</summary>
    public long TargetPages { get; internal set; }

    /// <summary>Populate-on-demand entries not yet backed by a frame: the outstanding reservation.</summary>
    public long PodPages => P2m.PodEntries;

    public P2mTable P2m { get; }

    /// <summary>Frames the hypervisor holds for this domain's own structures (its paging pool), owned by DOMID_XEN.</summary>
    internal List<uint> ReserveMfns { get; } = [];
    public long ReservePages => ReserveMfns.Count;

    /// <summary>Hypervisor swapping state: target, clock hand, recently paged-in gfns.</summary>
    public DomainPaging Paging { get; }

    /// <summary>The compression cache, made on the first page compressed.</summary>
    public CompressionCache? Compression { get; internal set; }

    /// <summary>The sharing scanner's position in this domain and how many times it has wrapped.</summary>
    internal ulong ScanCursor { get; set; }
    internal long ScanWraps { get; set; }

    /// <summary>The domain's accesses per memory node on a tiered host (null on an untiered one).</summary>
    public Tiers.NodeAccess? NodeAccess { get; internal set; }

    /// <summary>Time the hypervisor spent synchronously on the guest's accesses (page-ins, copy-on-write) that the guest has not yet been charged.</summary>
    internal double PendingStallNs;

    /// <summary>The working-set sampler watching this domain's pages.</summary>
    public ActivitySampler Activity { get; }

    /// <summary>The sampler's estimate of the pages the guest touches: its active share of tot_pages.</summary>
    public long ActivePages => (long)Math.Round(Activity.ActiveShare * TotPages);
    private readonly Func<ulong, bool> _isSampleable;

    /// <summary>Advances the working-set sampler; a new sample is drawn among the pages the domain has.</summary>
    internal void StepActivity(long dtNs) => Activity.Step(dtNs, P2m.Capacity, _isSampleable);

    /// <summary>Dirty tracking of the guest's video RAM for the device model, once it asked for it (HVMOP_track_dirty_vram).</summary>
    public Mmu.LogDirty.VramTracker? Vram { get; internal set; }

    /// <summary>The domain's one port: what its guest kernel and its MMU reach the hypervisor through, made when the domain is built.</summary>
    internal Seam.IGuestMemory Port { get; set; } = null!;

    /// <summary>The vCPU's MMU (its mode's TLB, walks and page-table virtualization), attached when the domain is built.</summary>
    public Mmu.GuestMmu? Mmu { get; internal set; }

    /// <summary>A PV domain: its tables hold machine frames, so Xen neither pages, shares nor populates its memory on demand.</summary>
    public bool IsPv => Mmu?.Mode == global::Memvisor.Hypervisor.Mmu.MmuMode.Pv;

    public bool IsDying { get; internal set; }

    /// <summary>A live migration's destination, being filled: nothing but the migration touches its pages (no sharing, no paging).</summary>
    public bool Incoming { get; internal set; }

    /// <summary>A post-copy migration bringing this domain's remote pages over; null when none has any left to bring.</summary>
    internal Migration.IPostCopySource? PostCopy { get; set; }

    /// <summary>A live migration's source: its log-dirty mode is the migration's, which other callers may not turn off or clean.</summary>
    public bool MigratingOut { get; internal set; }

    /// <summary>Crashed by the hypervisor (domain_crash): its vCPUs no longer run and every access is refused until it is destroyed.</summary>
    public bool IsCrashed { get; internal set; }

    /// <summary>Hyper-V's Smart Paging: the domain was restarted with part of its startup memory on disk, and takes frames from its own pages while it is.</summary>
    public bool SmartPaging { get; internal set; }

    /// <summary>Xen's populate-on-demand cache, for a domain built populate-on-demand on Xen; null otherwise.</summary>
    public Pod.PodCache? Pod { get; internal set; }
    /// <summary>The live counters, bumped in place; <see cref="Stats"/> is a copy for readers.</summary>
    internal DomainStats Counters;
    public DomainStats Stats => Counters;

    public override string ToString() => $"{Name} (domid {DomId})";
}
