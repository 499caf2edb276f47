using Memvisor.Policy.Snapshot;

namespace Memvisor.Policy.Static;

/// <summary>No overcommit control: domains keep what they are given (a host with no squeezed, MOM or DRS).</summary>
public sealed class StaticPolicy(long intervalNs) : IPolicy
{
    public string Name => "static";
    public long IntervalNs => intervalNs;
    public IReadOnlyList<PolicyAction> Decide(HostSnapshot host) => [];
}
