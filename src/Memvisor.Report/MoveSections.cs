using System.Globalization;
using System.Text;
using Memvisor.Sim.Engine;

namespace Memvisor.Report;

/// <summary>report.html's sections for domains that moved: live migrations (rounds, pages per round, downtime) and saves and restores.</summary>
internal static class MoveSections
{
    public static void Write(StringBuilder html, RunResult r)
    {
        Migrations(html, r);
        SaveRestore(html, r);
    }

    // Each migration's rounds and stop-and-copy, as Clark et al. plot them: the pages each round sent, and the downtime.
    private static void Migrations(StringBuilder html, RunResult r)
    {
        var migrations = r.Summary.Domains.Where(d => d.Migrations is not null)
            .SelectMany(d => d.Migrations!.Select((m, i) => (Label: (d.Migrations!.Count == 1 ? d.Name : $"{d.Name} #{i + 1}") + (m.From is null ? "" : $" ({m.From} to {m.To})"), M: m))).ToList();
        if (migrations.Count == 0) return;
        html.Append("<h2>Live migrations</h2><p>Pre-copy sends every page, then in each round the pages dirtied during the one before, until fewer than 50 are left "
            + "or 5 rounds are done; the guest is then paused for the stop-and-copy, which sends the last dirty pages (the writable working set) and those deferred. "
            + "The downtime is that pause; under post-copy it is the switch's, after which the guest's remaining pages follow it.</p>");
        html.Append("<table><tr><th>Domain</th><th>started (s)</th><th>outcome</th><th>rounds</th><th>pages per round</th><th>stop-and-copy pages</th>"
            + "<th>deferred</th><th>MiB sent</th><th>downtime (ms)</th><th>total (s)</th></tr>");
        foreach (var (label, m) in migrations)
            html.Append(CultureInfo.InvariantCulture,
                $"<tr><td>{Encode(label)}</td><td>{m.AtS:0.###}</td><td>{m.Outcome}</td><td>{m.Rounds}</td><td>{string.Join(", ", m.PagesPerRound)}</td>"
                + $"<td>{m.StopAndCopyPages}</td><td>{m.DeferredPages}</td><td>{m.BytesSent / 1048576.0:0.0}</td><td>{m.DowntimeMs:0.###}</td><td>{m.TotalMs / 1e3:0.###}</td></tr>");
        html.Append("</table>");
        PostCopy(html, migrations);
        var done = migrations.Where(x => x.M.Outcome == "done").ToList();
        if (done.Count == 0) return;
        html.Append("<h2>Pages sent by each pre-copy round, then by the stop-and-copy (or after the guest moved, under post-copy)</h2>");
        SvgChart.Bars(html, [.. done.SelectMany(x => x.M.PagesPerRound.Select((p, i) => ($"{x.Label}: round {i + 1}", (double)p))
            .Append(x.M.Postcopy is { } pc ? ($"{x.Label}: post-copy", (double)pc.RemotePages) : ($"{x.Label}: stop-and-copy", (double)x.M.StopAndCopyPages)))], "pages");
        html.Append("<h2>Downtime of each migration (ms)</h2>");
        SvgChart.Bars(html, [.. done.Select(x => (x.Label, x.M.DowntimeMs))], "downtime, ms");
    }

    // What followed each guest that moved before its memory (post-copy): the pages it fetched while it waited, and those pushed.
    private static void PostCopy(StringBuilder html, List<(string Label, Sim.Summary.MigrationSummary M)> migrations)
    {
        var post = migrations.Where(x => x.M.Postcopy is not null).ToList();
        if (post.Count == 0) return;
        html.Append("<h2>Post-copy</h2><p>The guest moved after its pre-copy rounds; each page still on the source then either reached it when it touched it "
            + "(fetched while it waited: a round trip and the page) or was pushed in the background first.</p>");
        html.Append("<table><tr><th>Domain</th><th>remote pages</th><th>fetched on fault</th><th>pushed</th><th>guest's wait (ms)</th><th>until the last page (s)</th></tr>");
        foreach (var (label, m) in post)
        {
            var p = m.Postcopy!;
            html.Append(CultureInfo.InvariantCulture,
                $"<tr><td>{Encode(label)}</td><td>{p.RemotePages}</td><td>{p.FetchedOnFault}</td><td>{p.Pushed}</td><td>{p.FaultWaitMs:0.###}</td><td>{p.PostcopyMs / 1e3:0.###}</td></tr>");
        }
        html.Append("</table>");
    }

    // What each saved instance's image held, and how long it was away.
    private static void SaveRestore(StringBuilder html, RunResult r)
    {
        var saved = r.Summary.Domains.Where(d => d.SaveRestore is not null).Select(d => (d.Name, S: d.SaveRestore!)).ToList();
        if (saved.Count == 0) return;
        html.Append("<h2>Saves and restores</h2><p>The last image of each instance by record: zero pages carry no bytes, a synthetic page its 8-byte content handle, "
            + "a page sharing an earlier page's frame a reference to it, any other page its 4 KiB.</p>");
        html.Append("<table><tr><th>Domain</th><th>saves</th><th>restores</th><th>refused</th><th>pages</th><th>zero</th><th>handle</th><th>bytes</th><th>duplicate</th>"
            + "<th>read back from swap</th><th>image (MiB)</th><th>write / read (ms)</th><th>saved (s)</th></tr>");
        foreach (var (name, s) in saved)
            html.Append(CultureInfo.InvariantCulture,
                $"<tr><td>{Encode(name)}</td><td>{s.Saves}</td><td>{s.Restores}</td><td>{s.Refused}</td><td>{s.ImagePages}</td><td>{s.ZeroPages}</td><td>{s.HandlePages}</td>"
                + $"<td>{s.BytePages}</td><td>{s.DuplicatePages}</td><td>{s.PagesReadBack}</td><td>{s.ImageBytes / 1048576.0:0.0}</td>"
                + $"<td>{s.SaveMs:0.#} / {s.RestoreMs:0.#}</td><td>{s.SavedS:0.###}</td></tr>");
        html.Append("</table>");
    }

    private static string Encode(string s) => HtmlReport.Encode(s);
}
