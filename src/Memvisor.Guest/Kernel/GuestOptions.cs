using Memvisor.Guest.Balloon;
using Memvisor.Guest.Hotplug;
using Memvisor.Machine.Content;

namespace Memvisor.Guest.Kernel;

/// <summary>Settings of a guest kernel model.</summary>
public sealed record GuestOptions
{
    /// <summary>The kernel image the guest boots; guests with the same image have identical kernel text and libraries.</summary>
    public string KernelImage { get; init; } = "linux";
    /// <summary>A real guest's memory image to boot on (scenario image:); its pages replace the modeled kernel text.</summary>
    public Images.MemoryImageSpec? Image { get; init; }
    /// <summary>
    /// Pages of kernel text written at boot, mapped with 2 MiB pages (4 KiB under PV). 14 MiB by default: the .text of
    /// Debian 12's cloud kernel (linux-image-6.1.0-56-cloud-amd64, 0xe01ef2 bytes by readelf -S on its vmlinux,
    /// 2026-11-21; it was 8 MiB before). It is the core of what two guests of one image hold identically: the idle
    /// guests tools/make-images boots share 7,230 non-zero pages (28 MiB), the rest being read-only data, the
    /// initramfs's files and identical page metadata.
    /// </summary>
    public long KernelTextPages { get; init; } = 3584;
    /// <summary>Class of the bytes workloads write.</summary>
    public ContentClass DataClass { get; init; } = ContentClass.Compressible;
    /// <summary>The balloon driver.</summary>
    public BalloonOptions Balloon { get; init; } = new();
    /// <summary>The memory map the guest boots with, in pages; null reads memory/target (the balloon driver has given the rest back). A Xen PoD guest without a balloon driver sees all of maxmem.</summary>
    public long? BootPages { get; init; }
    /// <summary>Self-ballooning (off unless asked for).</summary>
    public SelfBalloonOptions SelfBalloon { get; init; } = new();
    /// <summary>Memory hot-plug above the boot size (off unless asked for).</summary>
    public HotplugOptions Hotplug { get; init; } = new();
    /// <summary>Stream id for this guest's random choices (derived from the run seed).</summary>
    public ulong RandomStream { get; init; }
    /// <summary>Size of the swap device in pages; 0 for none.</summary>
    public long SwapPages { get; init; }
    /// <summary>vm.swappiness: the relative weight of anonymous against file pages in reclaim (0..200, Linux default 60).</summary>
    public int Swappiness { get; init; } = 60;
    /// <summary>vm.dirty_background_ratio: writeback starts when dirty pages pass this share (percent) of available memory.</summary>
    public int DirtyBackgroundRatio { get; init; } = 10;
    /// <summary>vm.dirty_expire_centisecs, in ns: dirty data older than this is written back.</summary>
    public long DirtyExpireNs { get; init; } = 30_000_000_000;
    /// <summary>Pages of framebuffer the display driver sets aside at boot (xl.cfg videoram); 0 for no display.</summary>
    public long VideoRamPages { get; init; }
    /// <summary>How the fault handler fills an entry: Linux writes the valid entry once; Windows first writes a transition entry, then the valid one.</summary>
    public DemandPaging DemandPaging { get; init; } = DemandPaging.Linux;
    /// <summary>Keep the miss-ratio curve of the guest's references (the predictive policy and policy snapshots read it); off, nothing is tracked or allocated for it.</summary>
    public bool TrackMissRatio { get; init; } = true;
    /// <summary>
    /// Workloads announce their next accesses so that the simulator prefetches its own lookups (see AccessForecast):
    /// simulator speed only, no result changes. Worth it only where the guests' data outgrows the CPU's caches, so the
    /// simulation turns it on for large scenarios (docs/benchmarks.md).
    /// </summary>
    public bool ForecastAccesses { get; init; }
    /// <summary>Keep the expected bytes of every page the guest writes and check every read against them (slow; for tests).</summary>
    public bool CheckIntegrity { get; init; }
    /// <summary>Use the hypervisor's transcendent memory: frontswap for swap and cleancache for the page cache (Linux's tmem boot option).</summary>
    public bool Tmem { get; init; }
    /// <summary>Report free 2 MiB blocks to the hypervisor (virtio-balloon free page reporting).</summary>
    public bool FreePageReporting { get; init; }
    /// <summary>Linux's memory tiering across the guest's NUMA nodes (demotion_enabled and numa_balancing=2; <see cref="Tiering.GuestTiering"/>): only with virtual NUMA nodes.</summary>
    public bool Tiering { get; init; }
    /// <summary>Transparent huge pages for anonymous memory (/sys/kernel/mm/transparent_hugepage/enabled: always; off is never). Not under PV, which has no superpages.</summary>
    public bool TransparentHugePages { get; init; }
    /// <summary>The pages of the guest's first virtual NUMA node, the one with its CPUs (xl.cfg vnuma); null for one node. Its allocations take these first.</summary>
    public long? LocalNodePages { get; init; }

    /// <summary>The image id under which kernel text and library pages are generated: equal names give equal bytes.</summary>
    public uint ImageId => ImageIdOf(KernelImage);

    public static uint ImageIdOf(string image)
    {
        // FNV-1a over the name: stable across runs and machines, unlike string.GetHashCode.
        uint h = 2166136261;
        foreach (char c in image) h = (h ^ c) * 16777619;
        return h & 0xFFFFFF;
    }
}

/// <summary>The page-table writes of one demand fault (scenario guest.demand_paging).</summary>
public enum DemandPaging : byte
{
    /// <summary>One write of the valid entry (Linux's do_anonymous_page).</summary>
    Linux,
    /// <summary>A transition entry, then the valid entry (Windows; the pattern Xen 3.3's Shadow-3 was tuned for).</summary>
    Windows,
}
