using Memvisor.Hypervisor.Accounting;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;
using Memvisor.Sim.Summary;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Sim;

/// <summary>Post-copy live migration (migrate with postcopy: true, KVM hosts): the guest moves first and its pages follow.</summary>
public class PostCopyTests
{
    // A guest writing faster than the link can send: pre-copy cannot converge.
    private const string Writer = """
        name: postcopy
        seed: 21
        duration: 16s
        hosts:
          - { name: a, hypervisor: kvm, memory: 2GiB, link: { bandwidth: 119MiB/s, latency: 0.1ms } }
          - { name: b, hypervisor: kvm, memory: 2GiB, link: { bandwidth: 119MiB/s, latency: 0.1ms } }
        domains:
          - name: writer
            memory: 384MiB
            guest: { check_integrity: true }
            workload: { kind: steady, working_set: 256MiB, rate: 60000/s, write_fraction: 0.8 }
        events:
          - { at: 3s, action: migrate, domain: writer, to: b, postcopy: true }
        """;

    private static (RunResult Result, Simulation Sim, int AuditsDuringPostCopy) Run(string yaml)
    {
        var sim = new Simulation(ScenarioLoader.Parse(yaml, "t.yaml"));
        int audits = 0;
        // Between steps, while remote pages are outstanding on b, every host's frames and p2ms still add up.
        var r = sim.Run(_ =>
        {
            if (sim.Hosts[1].Domains.Any(d => d.P2m.RemoteEntries > 0))
            {
                foreach (var hv in sim.Hosts) Assert.Empty(Auditor.Check(hv));
                audits++;
            }
        });
        return (r, sim, audits);
    }

    private static MigrationSummary Only(RunResult r) => Assert.Single(r.Summary.Domains.Single(d => d.Name == "writer").Migrations!);

    [Fact]
    public void The_guest_moves_after_one_round_with_a_tiny_downtime_and_every_remaining_page_crosses_once()
    {
        var pre = Only(new Simulation(ScenarioLoader.Parse(Writer.Replace(", postcopy: true", ""), "t.yaml")).Run());
        var (r, sim, audits) = Run(Writer);
        var post = Only(r);
        Assert.Equal(0, r.Summary.Integrity.Errors);
        Assert.True(r.Summary.Integrity.VerifiedReads > 10_000, $"{r.Summary.Integrity.VerifiedReads} reads checked");
        Assert.True(r.AccountingHeld);
        Assert.True(audits > 0, "no step ended with remote pages outstanding");
        // Pre-copy cannot keep up: all five rounds, then a long stop-and-copy.
        Assert.Equal(("done", 5), (pre.Outcome, pre.Rounds));
        Assert.Null(pre.Postcopy);
        // Post-copy moves the guest after one round; the pause is the bitmap's, far under the pre-copy's.
        Assert.Equal(("done", 1, 0L), (post.Outcome, post.Rounds, post.StopAndCopyPages));
        Assert.True(post.DowntimeMs < 2 && post.DowntimeMs * 100 < pre.DowntimeMs, $"post-copy {post.DowntimeMs} ms, pre-copy {pre.DowntimeMs} ms");
        var pc = post.Postcopy!;
        Assert.Equal(post.WritableWorkingSetPages, pc.RemotePages);
        // Each remote page crossed once: fetched when the guest touched it first, or pushed before it did.
        Assert.True(pc.FetchedOnFault > 0 && pc.Pushed > 0, $"{pc.FetchedOnFault} fetched, {pc.Pushed} pushed");
        Assert.Equal(pc.RemotePages, pc.FetchedOnFault + pc.Pushed);
        Assert.Equal(post.PagesPerRound[0] + pc.RemotePages, post.PagesSent);
        Assert.True(post.BytesSent < pre.BytesSent && post.TotalMs < pre.TotalMs, $"post-copy {post.BytesSent} B in {post.TotalMs} ms, pre-copy {pre.BytesSent} B in {pre.TotalMs} ms");
        // The guest waited for each fetch: at least a round trip apiece.
        Assert.True(pc.FaultWaitMs >= pc.FetchedOnFault * 0.2, $"{pc.FaultWaitMs} ms for {pc.FetchedOnFault} fetches");
        // It runs on b, and a holds nothing of it any more.
        var writer = r.Domains.Single(d => d.Name == "writer");
        Assert.Equal(1, writer.HostIndex);
        Assert.Same(sim.Hosts[1].Find(writer.DomId), writer.Domain);
        Assert.Equal(["Domain-0"], sim.Hosts[0].Domains.Select(d => d.Name));
        Assert.Equal(0, writer.Domain!.P2m.RemoteEntries);
    }

    [Fact]
    public void Pure_post_copy_sends_nothing_before_the_guest_moves_and_each_page_once_after()
    {
        var (r, _, _) = Run(Writer.Replace("postcopy: true", "postcopy: true, precopy_rounds: 0"));
        var m = Only(r);
        Assert.Equal(0, r.Summary.Integrity.Errors);
        Assert.True(r.AccountingHeld);
        Assert.Equal(("done", 0), (m.Outcome, m.Rounds));
        Assert.Equal(m.Postcopy!.RemotePages, m.PagesSent);
        Assert.True(m.Postcopy.RemotePages > 256 * 256, $"{m.Postcopy.RemotePages} pages followed the guest");
    }

    [Fact]
    public void A_guest_destroyed_before_its_pages_arrived_takes_the_source_with_it()
    {
        var (r, sim, audits) = Run(Writer.Replace("postcopy: true }", "postcopy: true }\n  - { at: 5800ms, action: destroy, domain: writer }"));
        var m = Only(r);
        Assert.True(audits > 0 && m.Postcopy is not null, "the guest was destroyed before it moved");
        Assert.Equal("failed", m.Outcome);
        Assert.Contains(r.HostEvents, e => e.Message.StartsWith("The post-copy migration of writer failed: the destination domain was destroyed", StringComparison.Ordinal));
        Assert.True(r.AccountingHeld);
        foreach (var hv in sim.Hosts)
        {
            Assert.All(hv.Domains, d => Assert.True(d.IsDom0, $"{d} is left"));
            Assert.Empty(Auditor.Check(hv));
        }
    }

    [Fact]
    public void A_host_evacuated_while_a_guest_arrives_by_post_copy_sends_it_on_once_its_pages_are_all_there()
    {
        var (r, sim, audits) = Run(Writer.Replace("postcopy: true }", "postcopy: true, precopy_rounds: 0 }\n  - { at: 4s, action: evacuate, host: b }"));
        Assert.True(audits > 0);
        var moves = r.Summary.Domains.Single(d => d.Name == "writer").Migrations!;
        Assert.Equal([("done", "a", "b"), ("done", "b", "a")], moves.Select(m => (m.Outcome, m.From!, m.To!)));
        // Its total counts the switch's pause, which takes no simulated time (the guest is charged it as stall).
        Assert.True(moves[1].AtS * 1e3 >= moves[0].AtS * 1e3 + moves[0].TotalMs - moves[0].DowntimeMs - 1e-6, $"the second move began at {moves[1].AtS} s, before the first ended");
        Assert.Equal(0, r.Domains.Single(d => d.Name == "writer").HostIndex);
        Assert.Empty(r.Summary.Errors);
        Assert.Equal(0, r.Summary.Integrity.Errors);
    }

    [Fact]
    public void The_destinations_pager_leaves_it_alone_until_its_pages_have_all_arrived()
    {
        string yaml = Writer.Replace("link: { bandwidth: 119MiB/s, latency: 0.1ms } }", "link: { bandwidth: 119MiB/s, latency: 0.1ms }, paging: { swap_size: 1GiB } }")
            .Replace("    guest: { check_integrity: true }", "    guest: { check_integrity: true }\n    paging: { target: 200MiB }");
        var sim = new Simulation(ScenarioLoader.Parse(yaml, "t.yaml"));
        long checks = 0;
        var r = sim.Run(_ =>
        {
            foreach (var d in sim.Hosts[1].Domains.Where(d => d.P2m.RemoteEntries > 0))
            {
                Assert.Equal(0, d.P2m.PagedOutEntries + d.P2m.CompressedEntries);
                checks++;
            }
        });
        Assert.True(checks > 0, "no step ended during the post-copy");
        // Once they have, it pages toward its target on b as it did on a.
        var writer = r.Domains.Single(d => d.Name == "writer").Domain!;
        Assert.True(writer.P2m.PagedOutEntries > 0, "the pager never paged the guest on b");
        Assert.Equal(0, r.Summary.Integrity.Errors);
    }

    [Fact]
    public void Post_copy_is_asked_of_a_migrate_on_a_kvm_host_and_compare_turns_it_to_pre_copy_elsewhere()
    {
        var s = ScenarioLoader.Parse(Writer.Replace("postcopy: true", "postcopy: true, precopy_rounds: 2"), "t.yaml");
        Assert.Equal(2, s.Events[0].PostCopyAfterRounds);
        Assert.Equal(1, ScenarioLoader.Parse(Writer, "t.yaml").Events[0].PostCopyAfterRounds);
        Assert.Null(ScenarioLoader.Parse(Writer.Replace("postcopy: true", "postcopy: false"), "t.yaml").Events[0].PostCopyAfterRounds);
        var xen = ScenarioRefusal.Single(Writer.Replace("hypervisor: kvm", "hypervisor: xen"));
        Assert.Equal("events[0].postcopy", xen.Field);
        Assert.Contains("pre-copy only", xen.Message);
        Assert.Equal("events[0].precopy_rounds", ScenarioRefusal.Single(Writer.Replace("postcopy: true", "precopy_rounds: 1")).Field);
        Assert.Equal("events[0].precopy_rounds", ScenarioRefusal.Single(Writer.Replace("postcopy: true", "postcopy: true, precopy_rounds: 6")).Field);
        Assert.Equal("events[0].postcopy", ScenarioRefusal.Single(Writer.Replace("action: migrate, domain: writer, to: b, postcopy: true", "action: save, domain: writer, postcopy: true")).Field);
        // docs/experiments.md's example asks for each of the three ways.
        var example = ScenarioLoader.LoadFile(Path.Combine(AppContext.BaseDirectory, "examples", "postcopy.yaml"));
        Assert.Equal([null, 1, 0], example.Events.Select(e => e.PostCopyAfterRounds));
        var (onXen, notes) = HypervisorLab.On(ScenarioLoader.Parse(Writer, "t.yaml"), Memvisor.Hypervisor.Personalities.HostPersonality.Xen);
        Assert.Null(onXen.Events[0].PostCopyAfterRounds);
        Assert.Contains(notes, n => n.Contains("post-copy"));
    }
}
