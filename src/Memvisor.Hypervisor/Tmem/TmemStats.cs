namespace Memvisor.Hypervisor.Tmem;

/// <summary>What transcendent memory did, over all clients.</summary>
public record struct TmemStats
{
    public long Puts;
    /// <summary>Puts refused because taking memory would have gone into the host's reserve.</summary>
    public long PutsRefused;
    public long Gets;
    /// <summary>Gets that found nothing (an ephemeral page the hypervisor had dropped, or never put).</summary>
    public long GetMisses;
    public long Flushes;
    /// <summary>Ephemeral pages dropped to give the host memory back.</summary>
    public long EphemeralEvicted;
    /// <summary>Puts whose bytes matched a page tmem already held (with dedup on).</summary>
    public long DedupHits;
    /// <summary>Puts kept compressed (with compression on).</summary>
    public long CompressedPuts;
}
