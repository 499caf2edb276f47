using Memvisor.Hypervisor.Migration;

namespace Memvisor.Sim.Engine;

/// <summary>One migrate action: when it was issued, and the migration it started (null if the hypervisor refused it).</summary>
public sealed record MigrationRecord(long StartedAtNs, LiveMigration? Migration)
{
    /// <summary>The hosts it left and went to, by their place in the scenario's hosts.</summary>
    public int FromHost { get; init; }
    public int ToHost { get; init; }
}
