using Memvisor.Hypervisor.Domains;

namespace Memvisor.Hypervisor.Personalities;

/// <summary>
/// A hypervisor's memory behaviours and defaults, each from the system's own documents or code (docs/fidelity.md
/// lists them with their sources). The host and the scenario read these; nothing else decides what a host does.
/// </summary>
public sealed record HostPersonality
{
    public required HypervisorKind Kind { get; init; }

    /// <summary>The name scenarios and summaries use: xen, esx, kvm, hyperv.</summary>
    public required string Name { get; init; }

    /// <summary>How a domain gets its memory when the scenario does not say (<c>allocation:</c>).</summary>
    public required AllocationMode DefaultAllocation { get; init; }

    /// <summary>Whether <c>allocation: on-demand</c> is allowed, and what it means.</summary>
    public required OnDemandModel OnDemand { get; init; }

    /// <summary>Whether the host swaps guests' memory out when it runs out of frames, with nothing configured (ESX's per-VM swap file, Linux's swap under KVM).</summary>
    public required bool SwapsWhenShort { get; init; }

    /// <summary>Whether a guest's pages are looked at by the sharing scanner when the domain does not say (<c>sharing:</c>).</summary>
    public required bool SharesByDefault { get; init; }

    /// <summary>Whether the host can share pages at all.</summary>
    public required bool HasSharing { get; init; }

    /// <summary>Whether sharing is within one VM only unless the scenario says otherwise (ESX's salting since 2014).</summary>
    public required bool SharesWithinVmOnly { get; init; }

    public required bool HasTmem { get; init; }

    /// <summary>Whether zero pages map to one zero frame by default (ESX's zero-page sharing; Xen); KSM's use_zero_pages defaults to 0, merging them like other pages.</summary>
    public bool SharesZeroPagesByDefault { get; init; } = true;

    /// <summary>Whether guests may report free pages (virtio-balloon's free page reporting).</summary>
    public required bool HasFreePageReporting { get; init; }

    /// <summary>Whether the hypervisor can page a running domain out behind its back (a paging target).</summary>
    public required bool HasPagingTarget { get; init; }

    /// <summary>The policy daemon this hypervisor comes with, run when the scenario's policy names none.</summary>
    public required string NativePolicy { get; init; }

    /// <summary>Whether a first touch is backed by a whole 2 MiB page where the guest's 2 MiB region is untouched (ESX's Mem.AllocGuestLargePage=1; Linux's transparent huge pages under QEMU, which madvises guest RAM MADV_HUGEPAGE).</summary>
    public bool LargePagesOnFirstTouch { get; init; }

    /// <summary>When the sharing scanner may share a page inside a 2 MiB page, splitting it.</summary>
    public LargePageSharing LargePageSharing { get; init; } = LargePageSharing.Split;

    /// <summary>Memory the hypervisor keeps per VM beyond the VM's own (ESX's overhead memory), in pages.</summary>
    public Func<DomainConfig, long> OverheadPages { get; init; } = _ => 0;

    /// <summary>Xen: memory is built at domain creation (xen/common/domain.c, libxl's domain builder); an HVM domain with memory below maxmem is populate-on-demand (xen/arch/x86/mm/p2m-pod.c); no paging unless xenpaging runs; sharing only for pages the toolstack nominates (mem_sharing.c).</summary>
    public static readonly HostPersonality Xen = new()
    {
        Kind = HypervisorKind.Xen, Name = "xen", DefaultAllocation = AllocationMode.Static, OnDemand = OnDemandModel.PodCache,
        SwapsWhenShort = false, SharesByDefault = false, HasSharing = true, SharesWithinVmOnly = false, HasTmem = true,
        HasFreePageReporting = false, HasPagingTarget = true, NativePolicy = "squeezed",
    };

    /// <summary>ESX: a VM's memory is allocated on first touch; each VM has a swap file and overhead memory (vSphere Resource Management, "Overhead Memory on Virtual Machines"); inter-VM sharing is off by default since 2014 (KB 2080735, Mem.ShareForceSalting=2).</summary>
    public static readonly HostPersonality Esx = new()
    {
        Kind = HypervisorKind.Esx, Name = "esx", DefaultAllocation = AllocationMode.OnDemand, OnDemand = OnDemandModel.FirstTouch,
        SwapsWhenShort = true, SharesByDefault = true, HasSharing = true, SharesWithinVmOnly = true, HasTmem = false,
        HasFreePageReporting = false, HasPagingTarget = true, NativePolicy = "esx", OverheadPages = EsxOverhead.PagesFor,
        LargePagesOnFirstTouch = true, LargePageSharing = LargePageSharing.BelowHighState,
    };

    /// <summary>KVM: a guest is a QEMU process whose anonymous memory Linux faults in on first touch and swaps like any process's; KSM merges across guests (Documentation/admin-guide/mm/ksm.rst); virtio-balloon reports free pages.</summary>
    public static readonly HostPersonality Kvm = new()
    {
        Kind = HypervisorKind.Kvm, Name = "kvm", DefaultAllocation = AllocationMode.OnDemand, OnDemand = OnDemandModel.FirstTouch,
        SwapsWhenShort = true, SharesByDefault = true, HasSharing = true, SharesWithinVmOnly = false, HasTmem = false, SharesZeroPagesByDefault = false,
        HasFreePageReporting = true, HasPagingTarget = true, NativePolicy = "mom",
        LargePagesOnFirstTouch = true, LargePageSharing = LargePageSharing.Split,
    };

    /// <summary>Hyper-V: a VM starts only if its startup memory can be allocated; Dynamic Memory moves it by balloon and hot-add; no page sharing; Smart Paging only during a restart (Microsoft, Hyper-V Dynamic Memory overview).</summary>
    public static readonly HostPersonality HyperV = new()
    {
        Kind = HypervisorKind.HyperV, Name = "hyperv", DefaultAllocation = AllocationMode.Static, OnDemand = OnDemandModel.None,
        SwapsWhenShort = false, SharesByDefault = false, HasSharing = false, SharesWithinVmOnly = false, HasTmem = false,
        HasFreePageReporting = false, HasPagingTarget = false, NativePolicy = "hyperv",
    };

    public static readonly IReadOnlyList<HostPersonality> All = [Xen, Esx, Kvm, HyperV];

    public static readonly string[] Names = [.. All.Select(p => p.Name)];

    public static HostPersonality? Find(string name) => All.FirstOrDefault(p => p.Name == name);

    /// <summary>The sentence that refuses <paramref name="what"/> on this host, naming the hypervisor.</summary>
    public string Lacks(string what) => $"{DisplayName} has no {what}";

    public string DisplayName => Kind switch
    {
        HypervisorKind.Xen => "Xen",
        HypervisorKind.Esx => "ESX",
        HypervisorKind.Kvm => "KVM",
        _ => "Hyper-V",
    };
}

/// <summary>What <c>allocation: on-demand</c> means on a host.</summary>
public enum OnDemandModel
{
    /// <summary>Not allowed (Hyper-V allocates a VM's startup memory when it starts).</summary>
    None,
    /// <summary>Xen's populate-on-demand: the domain is built with a cache of <c>memory</c> frames that first touches take; a guest that outruns it is crashed.</summary>
    PodCache,
    /// <summary>A frame from the host's heap on first touch (ESX, Linux under KVM).</summary>
    FirstTouch,
}

/// <summary>How the sharing scanner treats a page that lies inside a 2 MiB page.</summary>
public enum LargePageSharing
{
    /// <summary>It is shared like any page and the 2 MiB page is split (Linux KSM splits a transparent huge page to merge a page in it, mm/ksm.c; Xen's p2m splits a superpage entry).</summary>
    Split,
    /// <summary>It is left alone while the host has free memory at or above ESX's High threshold (400% of minFree), then shared, breaking the large page (vSphere 6).</summary>
    BelowHighState,
}
