using System.Globalization;
using System.Text;
using Memvisor.Machine.Frames;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Summary;

namespace Memvisor.Report;

// A tiered host's memory nodes: where the guests' pages sat at the end, which node served their accesses, and what
// those cost beyond local DRAM (summary.json host.nodes and host.tiers).
internal static class TiersSection
{
    public static void Write(StringBuilder html, RunResult r)
    {
        var hosts = r.Summary.Hosts ?? [r.Summary.Host];
        if (!hosts.Any(h => h.Nodes is not null)) return;
        html.Append("<h2>Memory nodes and tiers</h2><p>Each node's kind, its memory, the domains' pages on it at the end (dom0's too), the guest accesses it served and the time "
            + "they cost beyond the guests' local DRAM (docs/model.md, \"Memory nodes and tiers\").</p>");
        html.Append("<table><tr><th>Host</th><th>node</th><th>kind</th><th>MiB</th><th>free at end (MiB)</th><th>domains' pages, dom0's too (MiB)</th><th>reads</th><th>writes</th><th>extra access time (ms)</th></tr>");
        foreach (var h in hosts)
            foreach (var n in h.Nodes ?? [])
                html.Append(CultureInfo.InvariantCulture, $"<tr><td>{HtmlReport.Encode(h.Name ?? "host")}</td><td>{n.Node}</td><td>{n.Kind}</td><td>{PageSize.ToMiB(n.Pages)}</td>"
                    + $"<td>{PageSize.ToMiB(n.FreePagesEnd)}</td><td>{PageSize.ToMiB(n.DomainPagesEnd)}</td><td>{n.Reads}</td><td>{n.Writes}</td><td>{n.ExtraAccessMs:0.0}</td></tr>");
        html.Append("</table>");
        var tiers = hosts.Where(h => h.Tiers is not null).SelectMany(h => h.Tiers!.Select(t => (Label: hosts.Count > 1 ? $"{h.Name}: {t.Kind}" : t.Kind, t))).ToList();
        html.Append("<h2>Share of guest accesses per tier (%)</h2>");
        SvgChart.Bars(html, [.. tiers.Select(x => (x.Label, 100 * x.t.AccessShare))], "% of accesses");
        html.Append("<h2>Access time beyond local DRAM per tier (ms)</h2>");
        SvgChart.Bars(html, [.. tiers.Select(x => (x.Label, x.t.ExtraAccessMs))], "ms");
    }
}
