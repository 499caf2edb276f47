namespace Memvisor.Hypervisor.Tmem;

/// <summary>A client's pool: ephemeral (clean pages the hypervisor may drop: cleancache) or persistent (pages that must come back: frontswap).</summary>
public sealed record TmemPool(int Id, ushort DomId, bool Persistent)
{
    /// <summary>Pages the pool holds now.</summary>
    public long Pages { get; internal set; }
}
