using FsCheck;
using FsCheck.Fluent;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;
using Memvisor.Tests.Support;
using Memvisor.Seam;

namespace Memvisor.Tests.Sim;

public class SimulationTests
{
    private static string Scenario(int webs, string webAlloc, string batchAlloc, int rate, string extraEvents = "") => $$"""
        name: small
        seed: 5
        duration: 20s
        host: { memory: 1GiB, numa_nodes: 2, dom0: { memory: 128MiB, min: 64MiB } }
        domains:
          - name: web
            count: {{webs}}
            memory: 96MiB
            maxmem: 128MiB
            allocation: {{webAlloc}}
            workload: { kind: steady, working_set: 48MiB, rate: {{rate}}/s }
          - name: batch
            memory: 64MiB
            maxmem: 192MiB
            allocation: {{batchAlloc}}
            workload: { kind: grow, to: 160MiB, over: 16s, rate: 500/s }
          - name: late
            memory: 64MiB
            autostart: false
            workload: { kind: idle }
        events:
          - { at: 4s, action: mem-set, domain: batch, memory: 192MiB }
          - { at: 6s, action: mem-set, domain: web-1, memory: 64MiB }
          - { at: 8s, action: destroy, domain: web-2 }
          - { at: 9s, action: create, domain: late }
          - { at: 12s, action: mem-set, domain: dom0, memory: 64MiB }
        {{extraEvents}}
        """;

    [Fact]
    public void A_run_creates_populates_resizes_and_destroys_domains()
    {
        var sim = new Simulation(ScenarioLoader.Parse(Scenario(3, "static", "on-demand", 2000), "s.yaml"));
        var r = sim.Run();
        var byName = r.Domains.ToDictionary(d => d.Name);
        Assert.Equal(DomainState.Destroyed, byName["web-2"].State);
        Assert.Equal(DomainState.Running, byName["late"].State);
        Assert.Equal(16384, byName["web-1"].Domain!.TotPages);                 // ballooned down to 64 MiB
        Assert.Equal(16384, byName["Domain-0"].Domain!.TotPages);               // dom0 down to its minimum
        var batch = byName["batch"];
        // Xen PoD: the first 64 MiB come from the cache at first touch, the rest by the balloon once mem-set raised the target.
        Assert.True(batch.Domain!.Stats.PodFaults > 0, "the grow workload touched its populate-on-demand pages");
        Assert.True(batch.Domain.Stats.PagesPopulated >= 40960, "the grow workload's pages were populated");
        Assert.Equal(40960, batch.Guest!.Workload.Processes.Single().Stats.RssAnon); // reached 160 MiB after mem-set to 192 MiB
        Assert.True(r.AccountingHeld);
        Assert.Equal(0, r.ErrorsTotal);
        Assert.Empty(Auditor.Check(sim.Host));
        Assert.True(r.Host.ScrubbedIdle > 0, "web-2's frames were scrubbed by the idle scrubber");
    }

    [Fact]
    public void Refused_toolstack_requests_land_in_errors_with_a_sentence()
    {
        var text = Scenario(2, "static", "static", 100, "  - { at: 15s, action: mem-max, domain: web-1, memory: 32MiB }");
        var r = new Simulation(ScenarioLoader.Parse(text, "s.yaml")).Run();
        var error = Assert.Single(r.Errors);
        Assert.Equal("max_mem", error.Call);
        Assert.Equal(15_000_000_000, error.TimeNs);
        Assert.Contains("below the 16384 it holds", error.Message);
    }

    public sealed record SmallRun(int Webs, bool StaticWeb, bool StaticBatch, int Rate, ulong Seed);

    [Fact]
    public void The_same_scenario_and_seed_give_byte_identical_summaries_and_accounting_always_adds_up()
    {
        var gen = from webs in Gen.Choose(2, 4)
                  from sw in Gen.Elements(true, false)
                  from sb in Gen.Elements(true, false)
                  from rate in Gen.Choose(0, 3000)
                  from seed in Gen.Choose(0, 1000)
                  select new SmallRun(webs, sw, sb, rate, (ulong)seed);
        Properties.Check(gen, run =>
        {
            var s = ScenarioLoader.Parse(Scenario(run.Webs, run.StaticWeb ? "static" : "on-demand", run.StaticBatch ? "static" : "on-demand", run.Rate), "s.yaml");
            var a = new Simulation(s, run.Seed).Run();
            var b = new Simulation(s, run.Seed).Run();
            Assert.True(a.AccountingHeld);
            Assert.Equal(RunFigures.SummaryBytes(a), RunFigures.SummaryBytes(b));
        }, maxTest: 8);
    }

    [Fact]
    public void A_different_seed_gives_a_different_run()
    {
        var s = ScenarioLoader.Parse(Scenario(2, "on-demand", "static", 3000), "s.yaml");
        Assert.NotEqual(RunFigures.SummaryBytes(new Simulation(s, 1).Run()), RunFigures.SummaryBytes(new Simulation(s, 2).Run()));
    }

    [Fact]
    public void A_host_running_more_guest_memory_than_it_has_loses_no_byte_through_every_mechanism()
    {
        const string yaml = """
            name: mechanisms
            seed: 3
            duration: 20s
            host:
              memory: 512MiB
              dom0: { memory: 64MiB }
              sharing: { scan_rate: 20000/s }
              paging: { policy: clock }
              compression: { codec: lz4 }
              tmem: { dedup: true, reserve: 8MiB }
            domains:
              - name: web
                count: 2
                memory: 128MiB
                maxmem: 256MiB
                guest: { swap: 128MiB, kernel_image: debian-12, check_integrity: true }
                tmem: true
                sharing: true
                paging: { target: 48MiB }
                workload: { kind: zipf, working_set: 200MiB, rate: 20000/s, skew: 0.9, write_fraction: 0.4 }
              - name: files
                memory: 96MiB
                maxmem: 256MiB
                guest: { swap: 64MiB, check_integrity: true }
                tmem: true
                sharing: true
                workload: { kind: file-streaming, file_size: 256MiB, rate: 10000/s, write_fraction: 0.2 }
            """;
        var r = new Simulation(ScenarioLoader.Parse(yaml, "s.yaml")).Run();
        var m = r.Mechanisms;
        Assert.Equal(0, r.IntegrityErrors);
        Assert.True(r.VerifiedReads > 100_000, $"only {r.VerifiedReads} reads were verified");
        Assert.True(r.AccountingHeld);
        Assert.True(r.Host.ConfiguredGuestPages > r.Frames, "the guests' maxmem should add up to more than the host");
        Assert.True(m.Sharing.SavedPages > 0 && m.Sharing.CowBreaks > 0, "sharing did nothing");
        Assert.True(m.Paging.PagedOut > 0 && m.Paging.PagedIn > 0 && m.Paging.SwapWrites > 0, $"paging did too little: out {m.Paging.PagedOut}, in {m.Paging.PagedIn}, swap writes {m.Paging.SwapWrites}");
        Assert.True(m.Compression.PagesCompressed > 0 && m.Compression.BytesSaved > 0, "compression did nothing");
        Assert.True(m.Tmem.Puts > 0 && m.Tmem.Gets > 0, "tmem did nothing");
        Assert.All(r.Domains, d => Assert.Equal(0, d.Guest?.Stats.OomKills ?? 0));
        Assert.Null(m.Paging.Stopped);
    }

    [Fact]
    public void The_toolstack_sees_a_balloon_stuck_self_ballooning_shrinks_an_idle_guest_and_hot_plug_follows_its_actions()
    {
        const string yaml = """
            name: balloons
            seed: 4
            duration: 40s
            host: { memory: 1GiB, dom0: { memory: 64MiB } }
            domains:
              - name: pinned
                memory: 128MiB
                workload: { kind: steady, working_set: 104MiB, rate: 5000/s, write_fraction: 0.5 }
              - name: lean
                memory: 256MiB
                selfballoon: { interval: 1s }
                workload: { kind: steady, working_set: 16MiB, rate: 2000/s }
              - name: growing
                memory: 128MiB
                maxmem: 512MiB
                hotplug: { block: 64MiB }
                guest: { swap: 64MiB, check_integrity: true }
                workload: { kind: steady, working_set: 200MiB, rate: 20000/s, write_fraction: 0.5 }
            events:
              - { at: 2s, action: mem-set, domain: pinned, memory: 32MiB }
              - { at: 3s, action: hot-add, domain: growing, memory: 192MiB }
              - { at: 20s, action: hot-remove, domain: growing, memory: 128MiB }
            """;
        var sim = new Simulation(ScenarioLoader.Parse(yaml, "s.yaml"));
        var r = sim.Run();
        var m = r.Mechanisms;
        DomainRecord Dom(string name) => r.Domains.Single(d => d.Name == name);

        Assert.True(m.Balloon.Stuck >= 1 && m.Balloon.Uncooperative >= 1, $"stuck {m.Balloon.Stuck}, uncooperative {m.Balloon.Uncooperative}");
        Assert.Contains(r.HostEvents, e => e.Domain == "pinned" && e.Message.Contains("uncooperative"));
        Assert.Equal("1", sim.Host.Store.Read(Memvisor.Hypervisor.Host.StorePath(Dom("pinned").Domain!, Memvisor.Seam.StoreKeys.Uncooperative)));
        Assert.Equal(0, Dom("pinned").Guest!.Stats.OomKills);

        Assert.True(m.Balloon.SelfballoonAdjustments > 0);
        Assert.True(Dom("lean").Domain!.TotPages < 128 * 256, $"self-ballooning left lean at {Dom("lean").Domain!.TotPages} pages");

        Assert.Equal(3 * 64 * 256, m.Hotplug.PagesAdded);
        Assert.Equal(2 * 64 * 256, m.Hotplug.PagesRemoved);
        Assert.Equal(1, Dom("growing").Guest!.Hotplug!.PluggedBlocks);
        Assert.Equal((128 + 64) * 256, Dom("growing").Domain!.TotPages);
        Assert.Equal(0, r.IntegrityErrors);
        Assert.True(r.AccountingHeld);
    }

    [Fact]
    public void Squeezed_brings_every_domain_to_the_same_fraction_of_its_range_on_a_host_too_small_for_all_maxima()
    {
        const string yaml = """
            name: dmc
            seed: 2
            duration: 60s
            host: { memory: 1GiB, dom0: { memory: 128MiB } }
            policy: { name: squeezed, interval: 5s, reserve: 64MiB }
            domains:
              - name: big
                memory: 384MiB
                maxmem: 768MiB
                dynamic_min: 128MiB
                dynamic_max: 768MiB
                workload: { kind: steady, working_set: 64MiB, rate: 2000/s }
              - name: small
                memory: 256MiB
                maxmem: 512MiB
                dynamic_min: 128MiB
                dynamic_max: 512MiB
                workload: { kind: steady, working_set: 64MiB, rate: 2000/s }
            """;
        var sim = new Simulation(ScenarioLoader.Parse(yaml, "s.yaml"));
        var r = sim.Run();
        Assert.NotNull(r.Policy);
        Assert.Equal("squeezed", r.Policy!.Name);
        Assert.Equal(12, r.Policy.Decisions);
        Assert.True(r.Policy.Actions.GetValueOrDefault("mem_set") > 0);
        var big = r.Domains.Single(d => d.Name == "big").Domain!;
        var small = r.Domains.Single(d => d.Name == "small").Domain!;
        double Fraction(Memvisor.Hypervisor.Domains.Domain d, long min, long max) => (double)(d.TargetPages - min) / (max - min);
        double fb = Fraction(big, 32768, 196608), fs = Fraction(small, 32768, 131072);
        Assert.InRange(fb, 0.05, 0.95);                      // the host cannot give both their maximum, nor need it take them to the minimum
        Assert.InRange(fs - fb, -0.01, 0.01);
        // Everything the guests hold plus the reserve fits the host.
        Assert.True(r.End.FreeFrames >= 16384 - 512, $"free at the end {r.End.FreeFrames}");
    }
}
