using Memvisor.Hypervisor.Accounting;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

/// <summary>
/// Saving and migrating a Xen guest that uses tmem, as Xen's xc_tmem_save did: its pools go after its memory, a
/// persistent (frontswap) pool with its pages, and are made again under the same ids, so the guest's swap reads back
/// what it wrote; a host with tmem off cannot take it.
/// </summary>
public class TmemMoveTests
{
    private const string Yaml = """
        name: tmem-moves
        seed: 5
        duration: 14s
        hosts:
          - { name: a, memory: 1GiB, dom0: { memory: 128MiB }, tmem: { reserve: 32MiB }, link: { bandwidth: 1GiB/s } }
          - { name: b, memory: 1GiB, dom0: { memory: 128MiB }, tmem: { reserve: 32MiB }, link: { bandwidth: 1GiB/s } }
        domains:
          - name: fs
            count: 2
            memory: 96MiB
            tmem: true
            guest: { swap: 256MiB, check_integrity: true }
            workload: { kind: steady, working_set: 128MiB, rate: 5000/s, write_fraction: 0.5 }
        events:
          - { at: 5s, action: save, domain: fs-1 }
          - { at: 7s, action: restore, domain: fs-1, to: b }
          - { at: 5s, action: migrate, domain: fs-2, to: b }
        """;

    [Fact]
    public void A_guest_swapping_to_frontswap_is_saved_and_migrated_with_its_pages_and_reads_them_back()
    {
        var sim = new Simulation(ScenarioLoader.Parse(Yaml, "t.yaml"));
        var r = sim.Run();
        Assert.True(r.AccountingHeld);
        Assert.Empty(r.Summary.Errors);
        foreach (var hv in sim.Hosts) Assert.Empty(Auditor.Check(hv));
        // Every read checked, many of them of pages swapped to frontswap before the move and got back after it.
        Assert.Equal(0, r.Summary.Integrity.Errors);
        Assert.True(r.Summary.Integrity.VerifiedReads > 20_000, $"{r.Summary.Integrity.VerifiedReads} reads checked");
        var saved = r.Summary.Domains.Single(d => d.Name == "fs-1").SaveRestore!;
        var m = Assert.Single(r.Summary.Domains.Single(d => d.Name == "fs-2").Migrations!);
        Assert.Equal((1, 1, "done"), (saved.Saves, saved.Restores, m.Outcome));
        Assert.True(saved.TmemPages > 1000 && m.TmemPages > 1000, $"{saved.TmemPages} frontswap pages saved, {m.TmemPages} migrated");
        // Both guests now use b's tmem: it holds their pools, a only dom0's nothing.
        Assert.All(r.Domains.Where(d => d.Name.StartsWith("fs", StringComparison.Ordinal)), d => Assert.Equal(1, d.HostIndex));
        Assert.Equal(0, sim.Hosts[0].Tmem.Pages);
        Assert.True(sim.Hosts[1].Tmem.Pages > 0);
        Assert.True(sim.Hosts[1].Tmem.Stats.Gets > 0);
    }

    [Fact]
    public void Frontswap_pages_kept_deduplicated_and_compressed_cross_as_their_bytes()
    {
        string yaml = Yaml.Replace("tmem: { reserve: 32MiB }, link", "tmem: { reserve: 32MiB, dedup: true, compress: true }, link");
        var sim = new Simulation(ScenarioLoader.Parse(yaml, "t.yaml"));
        var r = sim.Run();
        Assert.Empty(r.Summary.Errors);
        Assert.Equal(0, r.Summary.Integrity.Errors);
        Assert.True(r.Summary.Integrity.VerifiedReads > 20_000, $"{r.Summary.Integrity.VerifiedReads} reads checked");
        Assert.True(sim.Hosts[0].Tmem.Stats.CompressedPuts > 0, "a's tmem compressed nothing");
        Assert.All(r.Domains.Where(d => d.Name.StartsWith("fs", StringComparison.Ordinal)), d => Assert.Equal(1, d.HostIndex));
        foreach (var hv in sim.Hosts) Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void An_evacuation_sends_a_tmem_guest_to_the_freest_host_that_has_tmem()
    {
        const string yaml = """
            name: tmem-evacuate
            seed: 5
            duration: 8s
            hosts:
              - { name: a, memory: 1GiB, dom0: { memory: 128MiB }, tmem: { reserve: 32MiB }, link: { bandwidth: 1GiB/s } }
              - { name: b, memory: 2GiB, dom0: { memory: 128MiB }, link: { bandwidth: 1GiB/s } }
              - { name: c, memory: 1GiB, dom0: { memory: 128MiB }, tmem: { reserve: 32MiB }, link: { bandwidth: 1GiB/s } }
            domains:
              - name: fs
                memory: 96MiB
                tmem: true
                guest: { swap: 256MiB }
                workload: { kind: steady, working_set: 128MiB, rate: 2000/s, write_fraction: 0.5 }
            events:
              - { at: 3s, action: evacuate, host: a }
            """;
        var r = new Simulation(ScenarioLoader.Parse(yaml, "t.yaml")).Run();
        var m = Assert.Single(r.Summary.Domains.Single(d => d.Name == "fs").Migrations!);
        Assert.Equal(("done", "a", "c"), (m.Outcome, m.From, m.To));
    }

    [Fact]
    public void A_tmem_guest_is_not_sent_to_a_host_with_tmem_off()
    {
        string off = Yaml.Replace("  - { name: b, memory: 1GiB, dom0: { memory: 128MiB }, tmem: { reserve: 32MiB },", "  - { name: b, memory: 1GiB, dom0: { memory: 128MiB },");
        var errors = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(off, "t.yaml")).Errors;
        Assert.Equal(["events[1].to", "events[2].to"], errors.Select(e => e.Field).Order());
        Assert.All(errors, e => Assert.Contains("uses tmem, which 'b' has off", e.Message));
    }
}
