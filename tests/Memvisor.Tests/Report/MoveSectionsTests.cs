using System.Text;
using Memvisor.Report;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Report;

/// <summary>report.html shows each migration's rounds and downtime and each save's image, from summary.json's figures.</summary>
public class MoveSectionsTests
{
    private const string Yaml = """
        name: moves
        seed: 2
        duration: 12s
        host:
          memory: 1GiB
          dom0: { memory: 128MiB }
          link: { bandwidth: 64MiB/s }
        domains:
          - name: busy
            memory: 128MiB
            workload: { kind: steady, working_set: 96MiB, rate: 20000/s, write_fraction: 0.9 }
          - name: quiet
            memory: 64MiB
            workload: { kind: steady, working_set: 16MiB, rate: 100/s }
        events:
          - { at: 1s, action: migrate, domain: busy }
          - { at: 2s, action: save, domain: quiet }
          - { at: 4s, action: restore, domain: quiet }
        """;

    [Fact]
    public void The_report_has_a_row_per_migration_and_save_and_a_bar_per_round()
    {
        var result = new Simulation(ScenarioLoader.Parse(Yaml, "moves.yaml")).Run();
        var busy = Assert.Single(result.Summary.Domains.Single(d => d.Name == "busy").Migrations!);
        Assert.Equal("done", busy.Outcome);
        Assert.True(busy.Rounds > 1, "the busy guest's migration took one round: nothing to plot");
        using var ms = new MemoryStream();
        HtmlReport.Write(ms, result);
        string html = Encoding.UTF8.GetString(ms.ToArray());
        Assert.Contains("<h2>Live migrations</h2>", html);
        Assert.Contains($"<td>{string.Join(", ", busy.PagesPerRound)}</td>", html);
        // One bar per round and one for the stop-and-copy, then one downtime bar.
        for (int i = 1; i <= busy.Rounds; i++) Assert.Contains($"busy: round {i}<", html);
        Assert.Contains("busy: stop-and-copy<", html);
        Assert.Contains("<h2>Saves and restores</h2>", html);
        var quiet = result.Summary.Domains.Single(d => d.Name == "quiet").SaveRestore!;
        Assert.Contains($"<td>quiet</td><td>1</td><td>1</td><td>0</td><td>{quiet.ImagePages}</td>", html);
        // A run without moves has neither section.
        var plain = new Simulation(ScenarioLoader.Parse(Yaml[..Yaml.IndexOf("events:", StringComparison.Ordinal)], "plain.yaml")).Run();
        using var ps = new MemoryStream();
        HtmlReport.Write(ps, plain);
        string plainHtml = Encoding.UTF8.GetString(ps.ToArray());
        Assert.DoesNotContain("Live migrations", plainHtml);
        Assert.DoesNotContain("Saves and restores", plainHtml);
        Assert.DoesNotContain("Post-copy", html);
    }

    [Fact]
    public void A_post_copy_migration_has_its_row_and_its_remote_pages_in_place_of_a_stop_and_copy()
    {
        string yaml = Yaml.Replace("host:\n", "host:\n  hypervisor: kvm\n").Replace("action: migrate, domain: busy }", "action: migrate, domain: busy, postcopy: true }");
        var result = new Simulation(ScenarioLoader.Parse(yaml, "moves.yaml")).Run();
        var busy = Assert.Single(result.Summary.Domains.Single(d => d.Name == "busy").Migrations!);
        var pc = busy.Postcopy!;
        Assert.True(pc.RemotePages > 0, "the busy guest had nothing left to follow it");
        using var ms = new MemoryStream();
        HtmlReport.Write(ms, result);
        string html = Encoding.UTF8.GetString(ms.ToArray());
        Assert.Contains($"<tr><td>busy</td><td>{pc.RemotePages}</td><td>{pc.FetchedOnFault}</td><td>{pc.Pushed}</td>", html);
        Assert.Contains("busy: post-copy<", html);
        Assert.DoesNotContain("busy: stop-and-copy<", html);
    }
}
