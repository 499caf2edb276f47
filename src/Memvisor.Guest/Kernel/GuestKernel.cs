using Memvisor.Guest.Balloon;
using Memvisor.Guest.Display;
using Memvisor.Guest.Hotplug;
using Memvisor.Guest.Integrity;
using Memvisor.Guest.Memory;
using Memvisor.Guest.Mrc;
using Memvisor.Guest.Mm;
using Memvisor.Guest.PageCache;
using Memvisor.Guest.PageReporting;
using Memvisor.Guest.Reclaim;
using Memvisor.Guest.Storage;
using Memvisor.Guest.Tmem;
using Memvisor.Guest.Workloads;
using Memvisor.Seam;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Randomness;
using Memvisor.Machine.Time;

namespace Memvisor.Guest.Kernel;

/// <summary>
/// A guest kernel model after Linux: a page allocator with watermarks over the gfns the domain holds, processes
/// with VMAs and 4-level x86-64 page tables in guest frames, demand paging, a page cache with write-back, a swap
/// device, LRU reclaim (kswapd and direct), an OOM killer and a balloon target follower. It reaches the
/// hypervisor only through <see cref="IGuestMemory"/> and its vCPU's <see cref="IGuestMmu"/>: every access is
/// translated by the MMU of the domain's mode, and every page-table write and context switch goes through it.
/// </summary>
public sealed partial class GuestKernel
{
    internal const int KernelSlot = 0;
    /// <summary>The first PML4 slot of the kernel half a process shares: x86-64 Linux leaves slots 256..271 to Xen.</summary>
    internal const int FirstKernelSlot = 272;
    /// <summary>Kernel text is mapped at 0xffffffff80000000, as on x86-64 Linux (virtual page numbers are 36 bits).</summary>
    public const ulong KernelTextVpn = (0xFFFF_FFFF_8000_0000UL >> PageSize.Shift) & ((1UL << X86Pte.VirtualPageBits) - 1);
    internal static readonly byte[] ZeroPage = new byte[PageSize.Bytes];
    private static readonly (string Name, long Pages)[] Libraries = [("/lib/x86_64-linux-gnu/libc.so.6", 512), ("/lib64/ld-linux-x86-64.so.2", 64)];

    private readonly List<GuestFile> _files = [];
    private readonly List<OomKill> _oomKills = [];
    private readonly FaultHandler _faults;
    private readonly Func<(bool, ulong)> _newKernelTable;
    private DeterministicRandom _rng;
    private ulong _writeSeq;
    private double _stallDebtNs;
    private double _stepAllowanceNs;
    private double _stepStallNs;
    private readonly bool _onDemand;
    private bool _kswapdWoken;
    // The process whose address space the vCPU has loaded; null for the kernel's own (init_mm).
    private Process? _running;

    public GuestKernel(string name, IGuestMemory memory, IWorkload workload, GuestOptions options, CostModel costs, ulong seed, bool onDemand)
    {
        Name = name;
        Memory = memory;
        Workload = workload;
        Options = options;
        Costs = costs;
        _rng = DeterministicRandom.ForStream(seed, options.RandomStream);
        Pages = new PageMap(memory.PhysicalPages);
        Allocator = new PageAllocator(Pages);
        Mmu = memory.Mmu;
        Tables = new PageTables(Mmu);
        Swap = new SwapDevice(options.SwapPages);
        Rmap = new Rmap(this);
        Reclaimer = new Reclaimer(this);
        Oom = new OomKiller(this);
        Cache = new PageCacheOps(this);
        Writeback = new Writeback(this);
        Balloon = new BalloonDriver(this, onDemand);
        SelfBalloon = options.SelfBalloon.Enabled ? new SelfBalloon(this) : null;
        _onDemand = onDemand;
        Integrity = options.CheckIntegrity ? new IntegrityChecker(this) : null;
        Reporter = options.FreePageReporting ? new FreePageReporter(this) : null;
        Thp = options.TransparentHugePages && Mmu.LargePages ? new Thp.TransparentHugePages(this) : null;
        _faults = new FaultHandler(this);
        _newKernelTable = () => NewTable(null);
        Mrc = options.TrackMissRatio ? new StackDistanceTracker(memory.PhysicalPages) : null;
    }

    public string Name { get; }
    public IGuestMemory Memory { get; }
    public IWorkload Workload { get; }
    /// <summary>The guest agent's miss-ratio curve of the workload's page references (for the predictive policy).</summary>
    /// <summary>The miss-ratio curve tracker; null when nothing reads it (<see cref="GuestOptions.TrackMissRatio"/>).</summary>
    public StackDistanceTracker? Mrc { get; }
    public GuestOptions Options { get; }
    public CostModel Costs { get; }
    /// <summary>The live counters, bumped in place; <see cref="Stats"/> is a copy for readers.</summary>
    internal GuestStats Counters;
    public GuestStats Stats => Counters;
    public long NowNs { get; private set; }
    public PageMap Pages { get; }
    public PageAllocator Allocator { get; }
    public PageTables Tables { get; }
    /// <summary>The vCPU's MMU (its TLB, walks and page-table virtualization).</summary>
    public IGuestMmu Mmu { get; }
    public SwapDevice Swap { get; }
    public ProcessTable Processes { get; } = new();
    public IReadOnlyList<GuestFile> Files => _files;
    public IReadOnlyList<OomKill> OomKills => _oomKills;
    public IntegrityChecker? Integrity { get; }
    public BalloonDriver Balloon { get; }
    public SelfBalloon? SelfBalloon { get; }
    /// <summary>The display driver's framebuffer, when the domain has video RAM.</summary>
    public Framebuffer? Framebuffer { get; private set; }
    /// <summary>The hot-plug driver, when the guest has hot-pluggable memory.</summary>
    public HotplugDriver? Hotplug { get; private set; }
    public FreePageReporter? Reporter { get; }
    /// <summary>The guest's tiering of its own NUMA nodes (guest.tiering with a vnuma node without CPUs); null otherwise.</summary>
    public Tiering.GuestTiering? Tiering { get; private set; }
    /// <summary>Transparent huge pages for anonymous memory (guest.thp); null when off or under PV.</summary>
    public Thp.TransparentHugePages? Thp { get; }
    /// <summary>The cleancache client, when the guest uses tmem and the host offers it.</summary>
    public Cleancache? Cleancache { get; private set; }
    internal Rmap Rmap { get; }
    internal Reclaimer Reclaimer { get; }
    internal OomKiller Oom { get; }
    internal PageCacheOps Cache { get; }
    internal Writeback Writeback { get; }
    /// <summary>Gfn of the kernel's own PML4 (init_mm), whose upper half every process shares.</summary>
    public ulong KernelRoot { get; private set; }

    public bool Booted { get; private set; }
    /// <summary>What filling memory from the domain's image did, when it has one.</summary>
    public Images.ImageFillStats? ImageFill { get; private set; }

    /// <summary>The PV network device whose traffic the guest receives and sends each step (set when the toolstack connects one).</summary>
    public Devices.NetFront? Nic { get; set; }

    /// <summary>The PV block device its files' pages go through (set when the toolstack connects one); null: the disk is reached directly.</summary>
    public Devices.IBlockDevice? Block { get; set; }

    // A file page to or from its disk: through the block device when the guest has one.
    internal bool DiskRead(PageCache.GuestFile f, ulong gfn, long index) =>
        Block is { Connected: true } b ? b.Read(f.Disk, f.Id, gfn, index) : f.Disk.Load(Memory, gfn, index);
    internal bool DiskWrite(PageCache.GuestFile f, ulong gfn, long index) =>
        Block is { Connected: true } b ? b.Write(f.Disk, f.Id, gfn, index) : f.Disk.Save(Memory, gfn, index);

    /// <summary>Pages the guest holds (MemTotal).</summary>
    public long HeldPages => Allocator.ManagedPages;
    public long FreePages => Allocator.FreePages;

    /// <summary>True once the faults of this step have used up the time the step had: the workload waits.</summary>
    public bool Stalled => _stepStallNs >= _stepAllowanceNs;

    /// <summary>Advances the guest by <paramref name="dtNs"/>: its workload runs for the time faults leave it, then kswapd, write-back, working-set sampling and the balloon.</summary>
    public void Step(long nowNs, long dtNs)
    {
        NowNs = nowNs;
        // A crashed domain's vCPUs do not run.
        if (Memory.Halted) return;
        if (Memory.PhysicalPages > Pages.Length)
        {
            // mem-max raised the physical address space (as a guest sees hotplugged or balloon-reachable memory).
            Pages.Grow(Memory.PhysicalPages);
            Allocator.Grow(Memory.PhysicalPages);
        }
        _stepAllowanceNs = Math.Max(0, dtNs - _stallDebtNs);
        _stallDebtNs = Math.Max(0, _stallDebtNs - dtNs);
        _stepStallNs = 0;
        Mrc?.Advance(dtNs);
        if (_stepAllowanceNs > 0) Workload.Step(this, nowNs, dtNs);
        if (Memory.Halted) return;
        Mmu.Submit();
        Stall(Memory.TakeStallNs());
        _stallDebtNs += Math.Max(0, _stepStallNs - _stepAllowanceNs);
        if (_kswapdWoken || Allocator.FreePages < Allocator.LowPages)
        {
            _kswapdWoken = false;
            Reclaimer.Reclaim(Allocator.HighPages - Allocator.FreePages, direct: false);
        }
        Writeback.Step(nowNs);
        if (Nic is { Connected: true } nic) nic.Step(dtNs);
        SampleWorkingSets(nowNs);
        while (Memory.Store.TryTakeEvent(out var key))
        {
            Balloon.OnStoreEvent(key);
            Hotplug?.OnStoreEvent(key);
        }
        Hotplug?.Step(dtNs);
        SelfBalloon?.Step(nowNs);
        Balloon.Step(nowNs, dtNs);
        Reporter?.Step(nowNs);
        Tiering?.Step(nowNs);
    }

    /// <summary>Accesses a workload may make this step at <paramref name="ratePerSecond"/>, scaled by the share of the step faults did not take.</summary>
    public long TakeAccesses(ref double credit, double ratePerSecond, long dtNs)
    {
        double share = dtNs <= 0 ? 0 : Math.Clamp((_stepAllowanceNs - _stepStallNs) / dtNs, 0, 1);
        credit += ratePerSecond * dtNs / 1e9 * share;
        long n = (long)credit;
        credit -= n;
        return n;
    }

    /// <summary>The workload waits <paramref name="ns"/> (a fault's I/O, direct reclaim).</summary>
    internal void Stall(double ns)
    {
        _stepStallNs += ns;
        Counters.StallNs += ns;
    }

    /// <summary>/proc/meminfo now.</summary>
    public MemInfo MemInfo()
    {
        long free = Pages.CountOf(PageUse.Free), cached = Pages.CountOf(PageUse.File);
        long available = Math.Max(0, free - Allocator.HighPages + cached - Math.Min(cached / 2, Allocator.LowPages));
        long committed = 0;
        foreach (var p in Processes.Live) committed += p.CommittedPages;
        return new MemInfo(
            MemTotal: Allocator.ManagedPages,
            MemFree: free,
            MemAvailable: available,
            Cached: cached,
            Dirty: Writeback.DirtyPages,
            AnonPages: Pages.CountOf(PageUse.Anon),
            PageTables: Pages.CountOf(PageUse.PageTable),
            KernelPages: Pages.CountOf(PageUse.Kernel),
            ActiveAnon: Pages.CountOf(LruList.ActiveAnon),
            InactiveAnon: Pages.CountOf(LruList.InactiveAnon),
            ActiveFile: Pages.CountOf(LruList.ActiveFile),
            InactiveFile: Pages.CountOf(LruList.InactiveFile),
            CommittedAs: committed,
            SwapTotal: Swap.Slots,
            SwapFree: Swap.FreeSlots);
    }

    /// <summary>A uniform random integer below <paramref name="bound"/> from this guest's stream.</summary>
    public ulong NextRandom(ulong bound) => _rng.NextBelow(bound);
    public double NextDouble() => _rng.NextDouble();
    /// <summary>A copy of the kernel's random stream as it stands: drawing from it foretells the next draws and changes nothing.</summary>
    public DeterministicRandom ForkRandom() => _rng;
}
