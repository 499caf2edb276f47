namespace Memvisor.Machine.Time;

/// <summary>
/// The simulated cost of every operation, in nanoseconds of simulated time, with the source of each default.
/// Real work (hashing, copying, zeroing) is done for real; its simulated cost always comes from here, so that
/// runs are deterministic. Each value can be overridden by name in a scenario's <c>costs:</c> map.
/// </summary>
public sealed class CostModel
{
    /// <summary>Clock of the modeled CPU, used to turn cycle counts from the literature into time. Default 3 GHz.</summary>
    public double CpuGhz { get; set; } = 3.0;

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

    /// <summary>The names a scenario may override, in snake_case as in YAML.</summary>
    public static IReadOnlyList<string> Names => Setters.Keys.ToList();

    /// <summary>Sets a cost by its scenario name; false if there is no cost of that name.</summary>
    public bool TrySet(string name, double value)
    {
        if (!Setters.TryGetValue(name, out var set)) return false;
        set(this, value);
        return true;
    }

    private static readonly Dictionary<string, Action<CostModel, double>> Setters = new()
    {
        ["cpu_ghz"] = (c, v) => c.CpuGhz = v,
        ["hypercall_ns"] = (c, v) => c.HypercallNs = v,
        ["vm_exit_ns"] = (c, v) => c.VmExitNs = v,
        ["page_alloc_ns"] = (c, v) => c.PageAllocNs = v,
        ["scrub_page_ns"] = (c, v) => c.ScrubPageNs = v,
        ["idle_scrub_pages_per_s"] = (c, v) => c.IdleScrubPagesPerSecond = v,
        ["page_free_ns"] = (c, v) => c.PageFreeNs = v,
        ["domain_build_ns"] = (c, v) => c.DomainBuildNs = v,
    };
}
