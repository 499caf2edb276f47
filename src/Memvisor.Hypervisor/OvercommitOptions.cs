using Memvisor.Hypervisor.Compression;
using Memvisor.Hypervisor.Paging;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Hypervisor.Tmem;

namespace Memvisor.Hypervisor;

/// <summary>The host's overcommit mechanisms and their settings (the scenario's host: sharing, paging, compression, tmem).</summary>
public sealed record OvercommitOptions
{
    public SharingOptions Sharing { get; init; } = new();
    public PagingOptions Paging { get; init; } = new();
    public CompressionOptions Compression { get; init; } = new();
    public TmemOptions Tmem { get; init; } = new();
}
