namespace Memvisor.Guest.Tiering;

/// <summary>What the guest's own memory tiering did: NUMA hint faults on its CPU-less node, the pages they promoted (and those they could not, the CPUs' node being full), and the cold pages kswapd demoted.</summary>
public record struct GuestTieringStats
{
    public long HintFaults;
    public long Promoted;
    public long PromoteRefused;
    public long Demoted;
}
