using Memvisor.Hypervisor.Accounting;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

/// <summary>
/// Saving and migrating a Xen populate-on-demand domain: Xen's save reads each gfn with P2M_ALLOC, which populates a
/// PoD entry from the cache, so the image and the stream hold every page; the domain comes back without a PoD cache,
/// populated, and every guest read is still what was written.
/// </summary>
public class PodMoveTests
{
    private const string Yaml = """
        name: pod-moves
        seed: 3
        duration: 12s
        hosts:
          - { name: a, memory: 1GiB, dom0: { memory: 128MiB }, link: { bandwidth: 1GiB/s } }
          - { name: b, memory: 1GiB, dom0: { memory: 128MiB }, link: { bandwidth: 1GiB/s } }
        domains:
          - name: pod
            count: 2
            memory: 96MiB
            maxmem: 192MiB
            allocation: on-demand
            guest: { check_integrity: true }
            workload: { kind: steady, working_set: 48MiB, rate: 5000/s, write_fraction: 0.5 }
        events:
          - { at: 3s, action: save, domain: pod-1 }
          - { at: 5s, action: restore, domain: pod-1, to: b }
          - { at: 3s, action: migrate, domain: pod-2, to: b }
        """;

    [Fact]
    public void A_pod_domain_is_saved_and_migrated_with_its_entries_populated_and_comes_back_without_a_cache()
    {
        var sim = new Simulation(ScenarioLoader.Parse(Yaml, "t.yaml"));
        // Before the moves, both guests run from their PoD caches with entries outstanding.
        var before = new Simulation(ScenarioLoader.Parse(Yaml[..Yaml.IndexOf("events:", StringComparison.Ordinal)].Replace("duration: 12s", "duration: 3s"), "t.yaml")).Run();
        Assert.All(before.Domains.Where(d => d.Name.StartsWith("pod", StringComparison.Ordinal)), r => Assert.True(r.Domain!.Pod is not null && r.Domain.P2m.PodEntries > 0, $"{r.Name} has no PoD entries left"));
        var r = sim.Run();
        Assert.True(r.AccountingHeld);
        Assert.Empty(r.Summary.Errors);
        Assert.Equal(0, r.Summary.Integrity.Errors);
        Assert.True(r.Summary.Integrity.VerifiedReads > 10_000, $"{r.Summary.Integrity.VerifiedReads} reads checked");
        foreach (var hv in sim.Hosts) Assert.Empty(Auditor.Check(hv));
        var saved = r.Summary.Domains.Single(d => d.Name == "pod-1");
        // The image has no PoD record: every entry was populated as it was read, and counted among the pages.
        Assert.Equal((1, 1, 0L), (saved.SaveRestore!.Saves, saved.SaveRestore.Restores, saved.SaveRestore.PodEntries));
        Assert.True(saved.SaveRestore.ZeroPages > 0, "no page of the image was a zero page populated from the cache");
        var m = Assert.Single(r.Summary.Domains.Single(d => d.Name == "pod-2").Migrations!);
        Assert.Equal("done", m.Outcome);
        // Both run on b, populated, without a PoD cache or entry.
        foreach (var name in new[] { "pod-1", "pod-2" })
        {
            var rec = r.Domains.Single(d => d.Name == name);
            Assert.Equal(1, rec.HostIndex);
            Assert.Null(rec.Domain!.Pod);
            Assert.Equal(0, rec.Domain.P2m.PodEntries);
        }
    }
}
