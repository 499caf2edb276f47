using Memvisor.Hypervisor.Migration;

namespace Memvisor.Sim.Engine;

/// <summary>One migrate action: when it was issued, and the migration it started (null if the hypervisor refused it).</summary>
public sealed record MigrationRecord(long StartedAtNs, LiveMigration? Migration);
