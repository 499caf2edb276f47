using Memvisor.Machine.Frames;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;

using Memvisor.Tests.Support;

namespace Memvisor.Tests.Sim;

/// <summary>xl save and xl restore as timeline actions: the built-in save-restore scenario, and what a scenario may ask.</summary>
public class SaveRestoreScenarioTests
{
    [Fact]
    public void The_built_in_saves_and_restores_with_every_read_checked_and_a_restore_refused_while_memory_is_short()
    {
        var scenario = BuiltinScenarios.Load("save-restore");
        var a = new Simulation(scenario).Run();
        var summary = a.Summary;
        Assert.True(summary.Integrity.VerifiedReads > 100_000, $"only {summary.Integrity.VerifiedReads} reads were checked");
        Assert.Equal(0, summary.Integrity.Errors);
        var app = summary.Domains.Single(d => d.Name == "app");
        var sr = app.SaveRestore!;
        // Saved at 20 s; the restore at 45 s is refused (burst holds the memory); restored at 60 s; saved at 70 s, restored at 80 s.
        Assert.Equal((2, 2, 1), (sr.Saves, sr.Restores, sr.Refused));
        Assert.Equal(50, sr.SavedS);
        Assert.Equal("running", app.State);
        var refusal = Assert.Single(summary.Errors, e => e.Call == "restore");
        Assert.Equal((45.0, "ENOMEM"), (refusal.TimeS, refusal.Errno));
        // Paged-out pages were read from swap into the image (as bytes: swap keeps no handle). Each record is its gfn
        // and kind (9 bytes) and its payload: 8 bytes for a handle or a duplicate, 4 KiB for bytes.
        Assert.True(sr.PagesReadBack > 0, "no paged-out page was in the image");
        Assert.Equal(sr.ImagePages, sr.ZeroPages + sr.HandlePages + sr.BytePages + sr.DuplicatePages);
        Assert.InRange(sr.ImageBytes - Records(sr), 0, 200);
        // The web guest's pages shared with its twin went in once, the rest as handles: its image is a small part of
        // the memory it records. It came back with a new domid.
        var web2 = summary.Domains.Single(d => d.Name == "web-2");
        var w = web2.SaveRestore!;
        Assert.True(w.DuplicatePages > 0);
        Assert.True(w.ImageBytes * 50 < w.ImagePages * PageSize.Bytes, $"{w.ImageBytes} bytes for {w.ImagePages} pages");
        Assert.InRange(w.ImageBytes - Records(w), 0, 200);
        Assert.NotEqual(summary.Domains.Single(d => d.Name == "web-1").Domid + 1, web2.Domid);
        Assert.True(a.AccountingHeld);

        // The same scenario gives the same summary, byte for byte.
        Assert.Equal(RunFigures.SummaryBytes(a), RunFigures.SummaryBytes(new Simulation(scenario).Run()));
    }

    private static long Records(Memvisor.Sim.Summary.SaveRestoreSummary s) =>
        (s.ImagePages + s.PodEntries) * 9 + (s.HandlePages + s.DuplicatePages) * 8 + s.BytePages * (long)PageSize.Bytes;

    private const string Good = """
        name: t
        seed: 1
        duration: 10s
        host:
          memory: 1GiB
          dom0: { memory: 256MiB }
        domains:
          - name: a
            memory: 128MiB
            workload: { kind: steady, working_set: 64MiB, rate: 1000/s }
        events:
          - { at: 2s, action: save, domain: a }
          - { at: 5s, action: restore, domain: a }
        """;

    private static ScenarioError Refused(string yaml) => ScenarioRefusal.Single(yaml);

    [Fact]
    public void A_scenario_saves_a_guest_instance_before_it_restores_it_and_never_what_the_image_cannot_carry()
    {
        var s = ScenarioLoader.Parse(Good, "t.yaml");
        Assert.Equal([ActionKind.Save, ActionKind.Restore], s.Events.Select(e => e.Action));
        var first = Refused(Good.Replace("{ at: 2s, action: save, domain: a }", "{ at: 7s, action: save, domain: a }"));
        Assert.Equal("events[1].action", first.Field);
        Assert.Contains("no save before this restore", first.Message);
        var twice = Refused(Good.Replace("{ at: 5s, action: restore, domain: a }", "{ at: 5s, action: save, domain: a }"));
        Assert.Contains("saved already", twice.Message);
        var dom0 = Refused(Good.Replace("  - { at: 2s, action: save, domain: a }\n  - { at: 5s, action: restore, domain: a }", "  - { at: 2s, action: save, domain: dom0 }"));
        Assert.Equal("events[0].domain", dom0.Field);
        Assert.Contains("dom0 is not saved", dom0.Message);
        var memory = Refused(Good.Replace("{ at: 2s, action: save, domain: a }", "{ at: 2s, action: save, domain: a, memory: 1GiB }"));
        Assert.Equal("events[0].memory", memory.Field);
        // A PV domain is saved (its tables go as gfns), and so is a guest with tmem (its pools follow its memory).
        ScenarioLoader.Parse(Good.Replace("    memory: 128MiB\n", "    memory: 128MiB\n    mmu: pv\n"), "t.yaml");
        // A Xen PoD domain is saved too: its entries are populated as they are read (PodMoveTests).
        ScenarioLoader.Parse(Good.Replace("    memory: 128MiB\n", "    memory: 128MiB\n    maxmem: 256MiB\n    allocation: on-demand\n"), "t.yaml");
        // Saved and restored twice, with a failed restore tried again, is fine.
        ScenarioLoader.Parse(Good.Replace("  - { at: 5s, action: restore, domain: a }",
            "  - { at: 5s, action: restore, domain: a }\n  - { at: 6s, action: restore, domain: a }\n  - { at: 7s, action: save, domain: a }\n  - { at: 8s, action: restore, domain: a }"), "t.yaml");
    }

    [Fact]
    public void A_restore_the_host_cannot_hold_asks_dom0_for_the_memory_as_a_create_does_and_then_goes_ahead()
    {
        const string yaml = """
            name: autoballoon
            seed: 1
            duration: 15s
            host:
              memory: 2GiB
              dom0: { memory: 1200MiB, min: 256MiB }
            domains:
              - name: app
                memory: 512MiB
                guest: { check_integrity: true }
                workload: { kind: steady, working_set: 256MiB, rate: 2000/s, write_fraction: 0.5 }
              - name: filler
                memory: 600MiB
                autostart: false
                workload: { kind: steady, working_set: 64MiB, rate: 100/s }
            events:
              - { at: 5s, action: save, domain: app }
              - { at: 6s, action: create, domain: filler }
              - { at: 10s, action: restore, domain: app }
            """;
        var result = new Simulation(ScenarioLoader.Parse(yaml, "t.yaml")).Run();
        var app = result.Summary.Domains.Single(d => d.Name == "app");
        Assert.Empty(result.Summary.Errors);
        Assert.Equal(("running", 1, 0), (app.State, app.SaveRestore!.Restores, app.SaveRestore.Refused));
        // It waited for dom0's balloon: more than the 5 s between the save and the restore action.
        Assert.InRange(app.SaveRestore.SavedS, 5.05, 6);
        Assert.True(result.Summary.Domains.Single(d => d.Name == "Domain-0").TotPages < PageSize.FromBytes(1200L << 20) - PageSize.FromBytes(64L << 20));
        Assert.Equal(0, result.Summary.Integrity.Errors);
    }
}
