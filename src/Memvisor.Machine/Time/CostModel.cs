namespace Memvisor.Machine.Time;

/// <summary>
/// The simulated cost of every operation, in nanoseconds of simulated time, with the source of each default.
/// Real work (hashing, copying, zeroing) is done for real; its simulated cost always comes from here, so that
/// runs are deterministic. Each value can be overridden by name in a scenario's <c>costs:</c> map.
/// </summary>
public sealed class CostModel
{
    /// <summary>The clock the defaults assume: the costs sourced as cycle counts are those cycles at 3 GHz.</summary>
    public const double DefaultGhz = 3.0;

    /// <summary>Clock of the modeled CPU. Set by <see cref="Apply"/>, it scales every cost sourced as a cycle count (see <see cref="CycleCosts"/>).</summary>
    public double CpuGhz { get; private set; } = DefaultGhz;

    /// <summary>A PV hypercall entry and return: about 300 cycles on 64-bit x86 with SYSCALL (Xen 4.x measurements).</summary>
    public double HypercallNs { get; set; } = 100;

    /// <summary>A VM exit and re-entry round trip: about 1500 cycles on VT-x hardware since Nehalem.</summary>
    public double VmExitNs { get; set; } = 500;

    /// <summary>Taking one page from the buddy heap and assigning it: about 600 cycles (Xen alloc_domheap_pages + assign_pages).</summary>
    public double PageAllocNs { get; set; } = 200;

    /// <summary>Zeroing one 4 KiB frame at about 10 GB/s of memory bandwidth (clear_page with rep stosb).</summary>
    public double ScrubPageNs { get; set; } = 400;

    /// <summary>Frames the idle scrubber zeroes per simulated second: one idle core at about 1 GiB/s, well under the bandwidth above.</summary>
    public double IdleScrubPagesPerSecond { get; set; } = 262_144;

    /// <summary>Removing one page from a domain and freeing it (guest_remove_page + free_domheap_pages).</summary>
    public double PageFreeNs { get; set; } = 150;

    /// <summary>Toolstack work to build a domain before its memory is populated (xl create: about 50 ms of domain builder time).</summary>
    public double DomainBuildNs { get; set; } = 50_000_000;

    /// <summary>A guest's minor page fault (zero-fill or page-cache hit): exception entry, handler and a 4 KiB clear, about 1 µs on current x86 Linux.</summary>
    public double GuestMinorFaultNs { get; set; } = 1_000;

    /// <summary>Reading one 4 KiB page from the guest's swap device: about 100 µs, a random read from a SATA SSD through the block layer.</summary>
    public double GuestSwapReadNs { get; set; } = 100_000;

    /// <summary>Writing one 4 KiB page to the guest's swap device: about 50 µs, writes being queued and merged by the block layer.</summary>
    public double GuestSwapWriteNs { get; set; } = 50_000;

    /// <summary>Reading one 4 KiB file page that is not in the page cache: the same device as swap, about 100 µs.</summary>
    public double GuestFileReadNs { get; set; } = 100_000;

    /// <summary>Writing back one dirty 4 KiB file page: about 50 µs, as for swap writes.</summary>
    public double GuestFileWriteNs { get; set; } = 50_000;

    /// <summary>Reclaim looking at one page on an LRU list (rmap walk, accessed-bit test): about 300 cycles.</summary>
    public double GuestReclaimScanNs { get; set; } = 100;

    /// <summary>A guest splitting one transparent huge page into 512 4 KiB entries (__split_huge_pmd and the page's split): an estimate, 512 entries and their mapcounts rewritten and a TLB flush; no published timing found (docs/model.md).</summary>
    public double GuestThpSplitNs { get; set; } = 20_000;

    /// <summary>The hypervisor splitting one 2 MiB p2m (EPT) superpage into 512 entries: 31.5 µs, from KVM's eager splitting of 49,152 2 MiB pages in 1.55 s (commit a3fe5dbda0a4, v5.18).</summary>
    public double P2mSplitNs { get; set; } = 31_500;

    /// <summary>Copying one 4 KiB frame (a copy-on-write break): about the cost of clearing one, at memory bandwidth.</summary>
    public double PageCopyNs { get; set; } = 400;

    /// <summary>The sharing scanner looking at one page (read, XXH3 hash, tree lookup, compare on a match): Linux KSM scans about 600,000 pages per second per core.</summary>
    public double SharingScanPageNs { get; set; } = 1_700;

    /// <summary>The hypervisor writing one page to its swap file: a queued 4 KiB SSD write, as for the guest's swap.</summary>
    public double HvSwapWriteNs { get; set; } = 50_000;

    /// <summary>The hypervisor reading one page back from its swap file on the guest's access: a random 4 KiB SSD read.</summary>
    public double HvSwapReadNs { get; set; } = 100_000;

    /// <summary>LZ4 compressing one 4 KiB page: about 780 MB/s per core (lz4 1.9 README, Core i7).</summary>
    public double Lz4CompressPageNs { get; set; } = 5_000;

    /// <summary>LZ4 decompressing one 4 KiB page: about 4,900 MB/s per core.</summary>
    public double Lz4DecompressPageNs { get; set; } = 800;

    /// <summary>zstd level 3 compressing one 4 KiB page: about 400 MB/s per core (zstd 1.5 README).</summary>
    public double ZstdCompressPageNs { get; set; } = 10_000;

    /// <summary>zstd decompressing one 4 KiB page: about 1,500 MB/s per core.</summary>
    public double ZstdDecompressPageNs { get; set; } = 2_700;

    /// <summary>An access to another CPU node's DRAM, besides the local latency: the ACPI SLIT scale puts a remote node at 20 against 10 for the local one (Linux's REMOTE_DISTANCE and LOCAL_DISTANCE), twice the local 81 ns (TierDefaults.Dram). Only a tiered host (nodes:) charges it.</summary>
    public double NumaRemoteNs { get; set; } = 81;

    /// <summary>Shooting down one vCPU's translations of a moved page: the IPI makes the vCPU exit, invalidate (INVEPT or INVVPID) and re-enter while the sender waits for its answer, about two VM exit round trips (vm_exit_ns).</summary>
    public double TlbShootdownNs { get; set; } = 1_000;

    /// <summary>The tiering scanner reading and clearing one p2m (EPT) entry's accessed bit: about 150 cycles, as log_dirty_protect_page_ns.</summary>
    public double AdScanPageNs { get; set; } = 50;

    /// <summary>Writing or reading 4 KiB of a save image (xl save/restore): sequential at about 500 MB/s, a SATA SSD's rate (Samsung 860 EVO datasheet, 520/550 MB/s).</summary>
    public double SaveImagePageNs { get; set; } = 8_000;

    /// <summary>One tmem put or get: a hypercall and a 4 KiB copy.</summary>
    public double TmemOpNs { get; set; } = 600;

    /// <summary>One memory reference of a page walk: about 10 cycles, as walks are mostly served by the L1 and L2 data caches.</summary>
    public double WalkRefNs { get; set; } = 3;

    /// <summary>Emulating one trapped guest page-table write under shadow paging, besides the exit: about 8000 cycles (Xen 3.3 Shadow-3 notes).</summary>
    public double ShadowEmulateNs { get; set; } = 2_667;

    /// <summary>The shadow fault handler, besides the exit: walking the guest's tables and propagating an entry, about 3000 cycles.</summary>
    public double ShadowFaultNs { get; set; } = 1_000;

    /// <summary>Resyncing one out-of-sync L1 shadow: reading 512 guest entries and propagating the changed ones, about 4500 cycles.</summary>
    public double ShadowResyncNs { get; set; } = 1_500;

    /// <summary>Validating one mmu_update entry (reference and type counts of its target), about 150 cycles (Xen's mod_l1_entry fast path).</summary>
    public double PvValidateEntryNs { get; set; } = 50;

    /// <summary>Comparing one 4 KiB page of video RAM with the device model's copy (polling): a 4 KiB memcmp at about 10 GB/s.</summary>
    public double VramComparePageNs { get; set; } = 400;

    /// <summary>Write-protecting one page again after its dirty bit was returned (log-dirty clean), about 150 cycles.</summary>
    public double LogDirtyProtectPageNs { get; set; } = 50;

    /// <summary>The names a scenario may override, in snake_case as in YAML.</summary>
    public static IReadOnlyList<string> Names => Setters.Keys.ToList();

    /// <summary>The costs whose sources count CPU cycles; a clock other than <see cref="DefaultGhz"/> scales them.</summary>
    public static IReadOnlyList<string> CycleCosts => [.. Getters.Keys];

    /// <summary>
    /// Applies a scenario's <c>costs:</c>: first <c>cpu_ghz</c>, which turns every cost in <see cref="CycleCosts"/> into
    /// the same cycles at the new clock, then each cost given by name in ns, which is taken as given.
    /// </summary>
    public void Apply(IReadOnlyDictionary<string, double> overrides)
    {
        if (overrides.TryGetValue("cpu_ghz", out double ghz))
        {
            if (!(ghz > 0)) throw new ArgumentOutOfRangeException(nameof(overrides), ghz, "cpu_ghz must be a positive clock rate.");
            double scale = CpuGhz / ghz;
            foreach (string name in CycleCosts) Setters[name](this, Getters[name](this) * scale);
            CpuGhz = ghz;
        }
        foreach (var (name, value) in overrides)
            if (name != "cpu_ghz") TrySet(name, value);
    }

    /// <summary>Sets a cost by its scenario name; false if there is no cost of that name.</summary>
    public bool TrySet(string name, double value)
    {
        if (!Setters.TryGetValue(name, out var set)) return false;
        set(this, value);
        return true;
    }

    private static readonly Dictionary<string, Action<CostModel, double>> Setters = new()
    {
        ["cpu_ghz"] = (c, v) => c.Apply(new Dictionary<string, double> { ["cpu_ghz"] = v }),
        ["hypercall_ns"] = (c, v) => c.HypercallNs = v,
        ["vm_exit_ns"] = (c, v) => c.VmExitNs = v,
        ["page_alloc_ns"] = (c, v) => c.PageAllocNs = v,
        ["scrub_page_ns"] = (c, v) => c.ScrubPageNs = v,
        ["idle_scrub_pages_per_s"] = (c, v) => c.IdleScrubPagesPerSecond = v,
        ["page_free_ns"] = (c, v) => c.PageFreeNs = v,
        ["domain_build_ns"] = (c, v) => c.DomainBuildNs = v,
        ["guest_minor_fault_ns"] = (c, v) => c.GuestMinorFaultNs = v,
        ["guest_swap_read_ns"] = (c, v) => c.GuestSwapReadNs = v,
        ["guest_swap_write_ns"] = (c, v) => c.GuestSwapWriteNs = v,
        ["guest_file_read_ns"] = (c, v) => c.GuestFileReadNs = v,
        ["guest_file_write_ns"] = (c, v) => c.GuestFileWriteNs = v,
        ["guest_reclaim_scan_ns"] = (c, v) => c.GuestReclaimScanNs = v,
        ["page_copy_ns"] = (c, v) => c.PageCopyNs = v,
        ["sharing_scan_page_ns"] = (c, v) => c.SharingScanPageNs = v,
        ["hv_swap_write_ns"] = (c, v) => c.HvSwapWriteNs = v,
        ["hv_swap_read_ns"] = (c, v) => c.HvSwapReadNs = v,
        ["lz4_compress_page_ns"] = (c, v) => c.Lz4CompressPageNs = v,
        ["lz4_decompress_page_ns"] = (c, v) => c.Lz4DecompressPageNs = v,
        ["zstd_compress_page_ns"] = (c, v) => c.ZstdCompressPageNs = v,
        ["zstd_decompress_page_ns"] = (c, v) => c.ZstdDecompressPageNs = v,
        ["tmem_op_ns"] = (c, v) => c.TmemOpNs = v,
        ["walk_ref_ns"] = (c, v) => c.WalkRefNs = v,
        ["shadow_emulate_ns"] = (c, v) => c.ShadowEmulateNs = v,
        ["shadow_fault_ns"] = (c, v) => c.ShadowFaultNs = v,
        ["shadow_resync_ns"] = (c, v) => c.ShadowResyncNs = v,
        ["pv_validate_entry_ns"] = (c, v) => c.PvValidateEntryNs = v,
        ["vram_compare_page_ns"] = (c, v) => c.VramComparePageNs = v,
        ["log_dirty_protect_page_ns"] = (c, v) => c.LogDirtyProtectPageNs = v,
        ["numa_remote_ns"] = (c, v) => c.NumaRemoteNs = v,
        ["tlb_shootdown_ns"] = (c, v) => c.TlbShootdownNs = v,
        ["ad_scan_page_ns"] = (c, v) => c.AdScanPageNs = v,
        ["guest_thp_split_ns"] = (c, v) => c.GuestThpSplitNs = v,
        ["p2m_split_ns"] = (c, v) => c.P2mSplitNs = v,
    };

    // The costs sourced as cycle counts (CycleCosts): page_free_ns, tmem_op_ns and the device, bandwidth and codec
    // costs are sourced as times and do not scale.
    private static readonly Dictionary<string, Func<CostModel, double>> Getters = new()
    {
        ["hypercall_ns"] = c => c.HypercallNs,
        ["vm_exit_ns"] = c => c.VmExitNs,
        ["page_alloc_ns"] = c => c.PageAllocNs,
        ["guest_reclaim_scan_ns"] = c => c.GuestReclaimScanNs,
        ["walk_ref_ns"] = c => c.WalkRefNs,
        ["shadow_emulate_ns"] = c => c.ShadowEmulateNs,
        ["shadow_fault_ns"] = c => c.ShadowFaultNs,
        ["shadow_resync_ns"] = c => c.ShadowResyncNs,
        ["pv_validate_entry_ns"] = c => c.PvValidateEntryNs,
        ["log_dirty_protect_page_ns"] = c => c.LogDirtyProtectPageNs,
        ["tlb_shootdown_ns"] = c => c.TlbShootdownNs,
        ["ad_scan_page_ns"] = c => c.AdScanPageNs,
    };
}
