using Memvisor.Hypervisor.Compression;
using Memvisor.Hypervisor.Paging;
using Memvisor.Hypervisor.Personalities;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Hypervisor.Tmem;
using Memvisor.Hypervisor.WorkingSet;

namespace Memvisor.Hypervisor;

/// <summary>The host's overcommit mechanisms and their settings (the scenario's host: sharing, paging, compression, tmem).</summary>
public sealed record OvercommitOptions
{
    /// <summary>Which hypervisor the host is (host.hypervisor): its defaults and the behaviours it has.</summary>
    public HostPersonality Personality { get; init; } = HostPersonality.Xen;

    /// <summary>Whether a first touch takes a whole 2 MiB page (host.large_pages); null takes the hypervisor's default.</summary>
    public bool? LargePages { get; init; }

    public SharingOptions Sharing { get; init; } = new();
    public PagingOptions Paging { get; init; } = new();
    public CompressionOptions Compression { get; init; } = new();
    public TmemOptions Tmem { get; init; } = new();
    /// <summary>Transparent tiering on a tiered host (host.tiering): off unless given.</summary>
    public Tiers.TieringOptions Tiering { get; init; } = new();
    /// <summary>The working-set sampler every guest domain has (ESX's estimator; the esx policy reads it).</summary>
    public ActivityOptions Activity { get; init; } = new();
}
