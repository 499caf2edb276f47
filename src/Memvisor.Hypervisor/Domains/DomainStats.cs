namespace Memvisor.Hypervisor.Domains;

/// <summary>Counters the hypervisor keeps for a domain.</summary>
public record struct DomainStats
{
    public long PagesPopulated;
    public long PagesReleased;
    public long PodFaults;
    /// <summary>First touches backed by a whole 2 MiB page (ESX's large pages, Linux's transparent huge pages).</summary>
    public long LargePagesPopulated;
    public long Accesses;
    public long Refusals;
    /// <summary>Frames taken back through free page reporting.</summary>
    public long PagesReported;
    /// <summary>Writes the guest made to store keys the toolstack owns, refused.</summary>
    public long StoreWritesRefused;
    /// <summary>Simulated time spent in the hypervisor on this domain's behalf, from the cost model.</summary>
    public double HypervisorNs;
}
