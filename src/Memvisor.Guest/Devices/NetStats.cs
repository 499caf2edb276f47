namespace Memvisor.Guest.Devices;

/// <summary>One PV network device's figures: pages received and sent, how the backend moved them (grant copies, page flips), the grants the frontend issued, pages whose bytes arrived wrong, and the pages dom0 took from Xen to replace flipped ones.</summary>
public sealed class NetStats
{
    public long RxPages { get; internal set; }
    public long TxPages { get; internal set; }
    public long RxCopies { get; internal set; }
    public long TxCopies { get; internal set; }
    public long Flips { get; internal set; }
    public long GrantsIssued { get; internal set; }
    /// <summary>Pages received whose bytes were not the packet's, or requests refused on the way.</summary>
    public long Errors { get; internal set; }
    /// <summary>Pages dom0 populated to replace those it flipped to the guest (netback's replenishment).</summary>
    public long BackendReplenished { get; internal set; }
    /// <summary>Times the frontend connected again after its domain was restored or migrated.</summary>
    public long Resumes { get; internal set; }
    /// <summary>Guest pages kept as receive buffers and for sending.</summary>
    public long BufferPages { get; internal set; }
}
