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
using Memvisor.Hypervisor.Mmu;
using Memvisor.Hypervisor.Seam;
using Memvisor.Machine.Content;
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
public sealed class GuestKernel
{
    internal const int KernelSlot = 0;
    /// <summary>The first PML4 slot of the kernel half a process shares: x86-64 Linux leaves slots 256..271 to Xen.</summary>
    internal const int FirstKernelSlot = 272;
    /// <summary>Kernel text is mapped at 0xffffffff80000000, as on x86-64 Linux (virtual page numbers are 36 bits).</summary>
    public const ulong KernelTextVpn = (0xFFFF_FFFF_8000_0000UL >> 12) & ((1UL << 36) - 1);
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
        _faults = new FaultHandler(this);
        _newKernelTable = () => NewTable(null);
        Mrc = new StackDistanceTracker(memory.PhysicalPages);
    }

    public string Name { get; }
    public IGuestMemory Memory { get; }
    public IWorkload Workload { get; }
    /// <summary>The guest agent's miss-ratio curve of the workload's page references (for the predictive policy).</summary>
    public StackDistanceTracker Mrc { get; }
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

    /// <summary>Pages the guest holds (MemTotal).</summary>
    public long HeldPages => Allocator.ManagedPages;
    public long FreePages => Allocator.FreePages;

    /// <summary>True once the faults of this step have used up the time the step had: the workload waits.</summary>
    public bool Stalled => _stepStallNs >= _stepAllowanceNs;

    /// <summary>Boots: learns its memory map (gfns below the initial target), sets its watermarks, builds its page tables, maps its kernel text (with 2 MiB pages where the MMU allows them), loads them and opens its libraries.</summary>
    public void Boot()
    {
        long initial = Math.Min(Memory.Store.ReadLong(StoreKeys.Target, PageSize.ToKiB(Pages.Length)) / PageSize.KiB, Pages.Length);
        for (long gfn = 0; gfn < initial; gfn++) Allocator.AddHeld((ulong)gfn);
        Allocator.SetWatermarks();
        if (Options.Image is { } memoryImage) ImageFill = Images.ImageFill.Fill(this, memoryImage, initial);
        var (ok, root) = NewTable(null);
        if (!ok) return;
        KernelRoot = root;
        Booted = true;
        // A real image brings its own kernel: no modeled kernel text beside it.
        long blocks = Options.Image is null ? Math.Min(Options.KernelTextPages, initial / 4) / 512 : 0;
        for (uint b = 0; b < blocks; b++)
        {
            if (!Allocator.TryTakeBlock(9, out ulong first)) break;
            for (uint i = 0; i < 512; i++)
            {
                Pages.Assign(first + i, PageUse.Kernel, KernelSlot, i);
                Memory.Touch(first + i, write: true, ContentHandle.ImagePage(ContentClass.KernelText, Options.ImageId, b * 512 + i));
            }
            if (!MapKernelText(KernelTextVpn + b * 512, first)) break;
        }
        if (!Mmu.PinTopLevel(KernelRoot) || !Mmu.SwitchAddressSpace(KernelRoot, KernelSlot))
        {
            Booted = false;
            return;
        }
        if (Options.VideoRamPages > 0) Framebuffer = Framebuffer.Connect(this, Options.VideoRamPages);
        Balloon.Connect();
        if (Options.Hotplug.Enabled)
        {
            Hotplug = new HotplugDriver(this, _onDemand, initial);
            Hotplug.Connect();
        }
        if (Options.Tmem)
        {
            int ephemeral = Memory.TmemNewPool(persistent: false), persistent = Memory.TmemNewPool(persistent: true);
            if (ephemeral >= 0) Cleancache = new Cleancache(this, ephemeral);
            if (persistent >= 0) Swap.AttachFrontswap(Memory, persistent);
        }
        for (int i = 0; i < Libraries.Length; i++)
        {
            uint lib = (uint)i + 1;
            uint image = Options.ImageId;
            CreateFile(Libraries[i].Name, Libraries[i].Pages, index => ContentHandle.ImagePage(ContentClass.SharedLibrary, image, (lib << 24) | (uint)index));
        }
    }

    // 512 pages of kernel text at vpn: one 2 MiB page, or (under PV, which has no superpages) a page table of 4 KiB pages.
    private bool MapKernelText(ulong vpn, ulong first)
    {
        const ulong flags = Pte.Present | Pte.Writable | Pte.Accessed | Pte.Dirty;
        bool large = Mmu.LargePages;
        if (!Tables.TryEnsureTable(KernelRoot, vpn, large ? 2 : 1, _newKernelTable, out ulong table)) return false;
        if (large) Tables.Write(table, Pte.IndexAt(vpn, 2), Pte.Make(first, flags | Pte.Huge));
        else
            for (int i = 0; i < 512; i++) Tables.Write(table, i, Pte.Make(first + (ulong)i, flags));
        return true;
    }

    /// <summary>Advances the guest by <paramref name="dtNs"/>: its workload runs for the time faults leave it, then kswapd, write-back, working-set sampling and the balloon.</summary>
    public void Step(long nowNs, long dtNs)
    {
        NowNs = nowNs;
        if (Memory.PhysicalPages > Pages.Length)
        {
            // mem-max raised the physical address space (as a guest sees hotplugged or balloon-reachable memory).
            Pages.Grow(Memory.PhysicalPages);
            Allocator.Grow(Memory.PhysicalPages);
        }
        _stepAllowanceNs = Math.Max(0, dtNs - _stallDebtNs);
        _stallDebtNs = Math.Max(0, _stallDebtNs - dtNs);
        _stepStallNs = 0;
        Mrc.Advance(dtNs);
        if (_stepAllowanceNs > 0) Workload.Step(this, nowNs, dtNs);
        Mmu.Submit();
        Stall(Memory.TakeStallNs());
        _stallDebtNs += Math.Max(0, _stepStallNs - _stepAllowanceNs);
        if (_kswapdWoken || Allocator.FreePages < Allocator.LowPages)
        {
            _kswapdWoken = false;
            Reclaimer.Reclaim(Allocator.HighPages - Allocator.FreePages, direct: false);
        }
        Writeback.Step(nowNs);
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

    // ---- processes ----

    /// <summary>Starts a process (fork and exec): a fresh address space sharing the kernel's upper half, with the C library mapped; null if the kernel cannot make one.</summary>
    public Process? Spawn(string name)
    {
        if (!Processes.HasRoom || !Booted) return null;
        var (ok, root) = NewTable(null);
        if (!ok) return null;
        for (int i = FirstKernelSlot; i < 512; i++)
        {
            ulong e = Tables.Read(KernelRoot, i);
            if (e != 0) Tables.Write(root, i, e);
        }
        if (!Mmu.PinTopLevel(root))
        {
            Counters.MmuRefusals++;
            FreeTable(root);
            return null;
        }
        var p = Processes.Create(name, root);
        Pages.Assign(root, PageUse.PageTable, p.Slot, 0);
        p.Counters.PageTablePages = 1;
        for (int i = 0; i < Libraries.Length; i++) MapFile(p, _files[i], writable: false);
        return p;
    }

    /// <summary>Runs a new process's start-up: it executes the first pages of its C library (shared by every process of the guest).</summary>
    public void StartProgram(Process p, int libraryPages = 32)
    {
        var libc = p.Vmas.FirstOrDefault(v => v.Kind == VmaKind.File && v.FileId == 0);
        if (libc is null) return;
        for (ulong i = 0; i < (ulong)Math.Min(libraryPages, (long)libc.Pages) && !p.Exited; i++)
            Access(p, (libc.Start + i) << 12, write: false);
    }

    /// <summary>Ends a process: its pages, swap slots and page tables are freed.</summary>
    public void Exit(Process p)
    {
        if (p.Exited) return;
        // Off its tables first, and let the hypervisor drop its pin or shadows, so that tearing them down is
        // neither validated nor trapped (Xen's early unshadow).
        if (_running == p) RunKernel();
        Mmu.ReleaseAddressSpace(p.Root);
        foreach (var vma in p.Vmas.ToList())
        {
            if (vma.Kind == VmaKind.File) _files[vma.FileId].Mappings.Remove((p, vma));
            p.Remove(vma);
        }
        UnmapRange(p, 0, 1UL << 35);
        Tables.ForEachUserTable(p.Root, FreeTable);
        FreeTable(p.Root);
        Integrity?.Forget(p);
        Processes.Release(p);
        p.Exited = true;
    }

    /// <summary>mmap(MAP_ANONYMOUS | MAP_PRIVATE): reserves <paramref name="pages"/> of zero-filled memory; returns its address.</summary>
    public ulong MapAnonymous(Process p, long pages)
    {
        ulong start = p.PlaceMapping((ulong)pages);
        p.Add(new Vma(start, start + (ulong)pages, VmaKind.Anon, writable: true));
        return start << 12;
    }

    /// <summary>Maps a whole file into <paramref name="p"/>; returns its address.</summary>
    public ulong MapFile(Process p, GuestFile file, bool writable)
    {
        ulong start = p.PlaceMapping((ulong)file.Pages);
        var vma = new Vma(start, start + (ulong)file.Pages, VmaKind.File, writable, file.Id, 0);
        p.Add(vma);
        file.Mappings.Add((p, vma));
        return start << 12;
    }

    /// <summary>munmap of a whole mapping that starts at <paramref name="address"/>.</summary>
    public void Unmap(Process p, ulong address)
    {
        var vma = p.Find(address >> 12);
        if (vma is null || vma.Start != address >> 12) return;
        if (vma.Kind == VmaKind.File) _files[vma.FileId].Mappings.Remove((p, vma));
        p.Remove(vma);
        UnmapRange(p, vma.Start, vma.End);
        Integrity?.Forget(p, vma.Start, vma.End);
    }

    /// <summary>Grows or maps the anonymous region around <paramref name="vpn"/> (2 MiB at a time) for a process whose mappings are not known ahead, such as a replayed trace.</summary>
    internal Vma MapRegionAround(Process p, ulong vpn)
    {
        ulong start = vpn & ~511UL, end = start + 512;
        // Clip to the gap between the neighbouring mappings, so the region never overlaps one.
        foreach (var v in p.Vmas)
        {
            if (v.End <= vpn) start = Math.Max(start, v.End);
            else if (v.Start > vpn) end = Math.Min(end, v.Start);
        }
        var vma = new Vma(start, end, VmaKind.Anon, writable: true);
        p.Add(vma);
        return vma;
    }

    private void UnmapRange(Process p, ulong start, ulong end)
    {
        Tables.ForEachLeaf(p.Root, start, end, (vpn, table, index, e) =>
        {
            if (Pte.IsPresent(e))
            {
                ulong gfn = Pte.Frame(e);
                if (Pages[gfn].Use == PageUse.Anon)
                {
                    Pages.Remove(gfn);
                    Allocator.Give(gfn);
                    p.Counters.RssAnon--;
                }
                else p.Counters.RssFile--;
            }
            else if (Pte.IsSwap(e))
            {
                Swap.Free(Pte.SwapSlot(e));
                p.Counters.SwapEntries--;
            }
            Tables.Write(table, index, 0);
        });
        // One flush for the range (Linux's mmu_gather), and the lazy updates issued before any page is reused.
        Mmu.FlushAddressSpace(p.Slot);
        Mmu.Submit();
    }

    private void FreeTable(ulong gfn) => Allocator.Give(gfn);

    // ---- files ----

    /// <summary>Creates a file whose pages on disk initially hold <paramref name="initial"/>(page index).</summary>
    public GuestFile CreateFile(string name, long pages, Func<long, ContentHandle> initial)
    {
        var f = new GuestFile(_files.Count, name, pages, new PageStore(initial));
        _files.Add(f);
        return f;
    }

    /// <summary>Creates a data file of <paramref name="pages"/> pages of this guest's own bytes.</summary>
    public GuestFile CreateDataFile(string name, long pages)
    {
        ulong key = DeterministicRandom.Mix(((ulong)Memory.DomId << 40) ^ ((ulong)_files.Count << 20) ^ Options.RandomStream);
        var cls = Options.DataClass;
        return CreateFile(name, pages, index => ContentHandle.Synthetic(cls, DeterministicRandom.Mix(key + (ulong)index)));
    }

    /// <summary>read() of one page of a file through the page cache; false if it could not be done (no memory).</summary>
    public bool ReadFile(GuestFile f, long index)
    {
        Mrc.Record(FileKey(f, index));
        if (!Cache.TryGetPage(f, index, readFromDisk: true, out ulong gfn)) return false;
        Cache.MarkAccessed(gfn);
        Integrity?.CheckFile(f, index, gfn);
        return true;
    }

    /// <summary>write() of one whole page of a file: the page cache page gets new bytes and is dirty until written back.</summary>
    public bool WriteFile(GuestFile f, long index)
    {
        Mrc.Record(FileKey(f, index));
        if (!Cache.TryGetPage(f, index, readFromDisk: false, out ulong gfn)) return false;
        var content = NewData(f.Id, (ulong)index);
        Memory.Touch(gfn, write: true, content);
        Writeback.MarkDirty(gfn);
        Cache.MarkAccessed(gfn);
        Integrity?.WroteFile(f, index, content);
        return true;
    }

    // ---- the access path ----

    /// <summary>
    /// A load or store by process <paramref name="p"/> at virtual address <paramref name="address"/>: translated by
    /// the TLB or by walking the page tables (setting accessed and dirty bits as the CPU does), faulting the page in
    /// if needed. A store leaves new bytes in the page. False if the access could not be completed.
    /// </summary>
    public bool Access(Process p, ulong address, bool write)
    {
        Counters.Accesses++;
        ulong vpn = (address >> 12) & ((1UL << 36) - 1);
        Mrc.Record(((ulong)(uint)p.Pid << 36) | vpn);
        bool translated = Translate(p, vpn, write, out ulong gfn);
        Stall(Memory.TakeStallNs());
        if (!translated)
        {
            Counters.FailedAccesses++;
            return false;
        }
        AccessOutcome outcome;
        if (write)
        {
            Counters.Writes++;
            var content = NewData(p.Slot, vpn);
            outcome = Memory.Touch(gfn, write: true, content);
            Integrity?.Wrote(p, vpn, content);
        }
        else
        {
            outcome = Memory.Touch(gfn, write: false, ContentHandle.Zero);
            Integrity?.CheckRead(p, vpn, gfn);
        }
        switch (outcome)
        {
            case AccessOutcome.Hit: break;
            case AccessOutcome.PopulatedOnDemand: Counters.PodFaults++; break;
            case AccessOutcome.Refused: Counters.FailedAccesses++; break;
            default:
                if (outcome == AccessOutcome.PagedIn) Counters.HypervisorPageIns++;
                else Counters.CowBreaks++;
                Stall(Memory.TakeStallNs());
                break;
        }
        return true;
    }

    // A page of a file, apart from every process's virtual pages.
    private static ulong FileKey(GuestFile f, long index) => (1UL << 63) | ((ulong)(uint)f.Id << 36) | (ulong)index;

    private ContentHandle NewData(int owner, ulong index) =>
        ContentHandle.Synthetic(Options.DataClass, DeterministicRandom.Mix(((ulong)Memory.DomId << 52) ^ ((ulong)owner << 36) ^ index ^ (++_writeSeq << 20)));

    // The MMU translates; a page fault goes to the fault handler and the access is tried again.
    private bool Translate(Process p, ulong vpn, bool write, out ulong gfn)
    {
        for (int attempt = 0; attempt < 4 && !p.Exited; attempt++)
        {
            if (_running != p && !Run(p)) break;
            var t = Mmu.Translate(vpn, write);
            if (t.Status == TranslateStatus.Ok)
            {
                gfn = t.Gfn;
                return true;
            }
            // A write to a present read-only page is a protection fault: the model has no copy-on-write to serve it.
            if (Pte.IsPresent(t.Entry) || !_faults.Handle(p, vpn, write, t.Entry, t.Table, t.Index, t.Level)) break;
        }
        gfn = 0;
        return false;
    }

    // A context switch: the vCPU loads p's tables.
    private bool Run(Process p)
    {
        if (!Mmu.SwitchAddressSpace(p.Root, p.Slot))
        {
            Counters.MmuRefusals++;
            return false;
        }
        _running = p;
        return true;
    }

    private void RunKernel()
    {
        Mmu.SwitchAddressSpace(KernelRoot, KernelSlot);
        _running = null;
    }

    // ---- page allocation ----

    /// <summary>
    /// Allocates a page: user pages stop at the min watermark, kernel pages may go below it. When memory is short
    /// the caller reclaims directly (32 pages at a time); when reclaim finds nothing, the OOM killer ends the
    /// largest process. False (and counted) only when nothing more can be freed.
    /// </summary>
    internal bool TryAllocatePage(bool user, out ulong gfn)
    {
        for (int attempt = 0; attempt < 64; attempt++)
        {
            long floor = user ? Allocator.MinPages : 0;
            if (Allocator.FreePages > floor && (user ? Allocator.TryTake(out gfn) : Allocator.TryTakeLowest(out gfn)))
            {
                if (Allocator.FreePages < Allocator.LowPages) _kswapdWoken = true;
                return true;
            }
            Counters.DirectReclaims++;
            if (Reclaimer.Reclaim(32, direct: true) > 0) continue;
            if (!Oom.KillLargest()) break;
        }
        Counters.AllocationFailures++;
        gfn = 0;
        return false;
    }

    /// <summary>
    /// A page for a driver that must never wake the OOM killer (the balloon, hot-unplug's migration), as
    /// GFP_HIGHUSER | __GFP_NORETRY: one round of reclaim if memory is short, and never below the min watermark.
    /// </summary>
    internal bool TryAllocateNoRetry(out ulong gfn)
    {
        if (Allocator.FreePages <= Allocator.MinPages) Reclaimer.Reclaim(32, direct: false);
        if (Allocator.FreePages > Allocator.MinPages && Allocator.TryTake(out gfn)) return true;
        gfn = 0;
        return false;
    }

    /// <summary>A zeroed page for a page table, owned by <paramref name="p"/> (or the kernel).</summary>
    internal (bool Ok, ulong Gfn) NewTable(Process? p)
    {
        if (!TryAllocatePage(user: false, out ulong gfn)) return (false, 0);
        Pages.Assign(gfn, PageUse.PageTable, p?.Slot ?? KernelSlot, 0);
        Memory.WritePage(gfn, ZeroPage);
        if (p is not null) p.Counters.PageTablePages++;
        return (true, gfn);
    }

    internal void RecordOomKill(Process victim, long pages)
    {
        _oomKills.Add(new OomKill(NowNs, victim.Pid, victim.Name, pages));
        Counters.OomKills++;
    }

    // ---- statistics ----

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

    // Counts and clears the accessed bits of processes that track their working set, once per window (as
    // /proc/PID/clear_refs and idle page tracking do); the page keeps a young flag so reclaim still sees the reference.
    private void SampleWorkingSets(long nowNs)
    {
        foreach (var p in Processes.Live)
        {
            if (p.WorkingSetWindowNs <= 0 || nowNs < p.NextWorkingSetSampleNs) continue;
            long count = 0;
            Tables.ForEachLeaf(p.Root, 0, 1UL << 35, (vpn, table, index, e) =>
            {
                if (!Pte.IsPresent(e) || (e & Pte.Accessed) == 0) return;
                count++;
                Tables.Write(table, index, e & ~Pte.Accessed);
                ref var d = ref Pages[Pte.Frame(e)];
                d.Flags |= PageFlags.Young;
            });
            // One flush per sweep, as clear_refs does.
            if (count > 0) Mmu.FlushAddressSpace(p.Slot);
            p.WorkingSetPages = count;
            p.NextWorkingSetSampleNs = nowNs + p.WorkingSetWindowNs;
        }
    }
}
