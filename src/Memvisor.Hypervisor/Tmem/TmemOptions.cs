namespace Memvisor.Hypervisor.Tmem;

/// <summary>Settings of transcendent memory (Xen's tmem: the tmem, tmem_compress and tmem_dedup boot options).</summary>
public sealed record TmemOptions
{
    public bool Enabled { get; init; }
    public bool Compress { get; init; }
    public bool Dedup { get; init; }

    /// <summary>Host free pages tmem always leaves free: a put is refused when taking a frame would go below this. Default 16384 (64 MiB).</summary>
    public long ReservePages { get; init; } = 16 * 1024;
}
