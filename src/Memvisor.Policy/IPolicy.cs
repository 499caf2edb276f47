using Memvisor.Policy.Snapshot;

namespace Memvisor.Policy;

/// <summary>A memory policy daemon: at each interval it reads a snapshot and decides on toolstack actions. It keeps what it learned between decisions.</summary>
public interface IPolicy
{
    string Name { get; }
    long IntervalNs { get; }
    IReadOnlyList<PolicyAction> Decide(HostSnapshot host);

    /// <summary>Whether the policy reads the guests' miss-ratio curves (<see cref="DomainSnapshot.Mrc"/>); the guests track them only then.</summary>
    bool ReadsMissCurves => false;
}
