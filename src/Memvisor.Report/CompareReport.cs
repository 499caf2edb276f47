using System.Globalization;
using System.Net;
using System.Text;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Report;

/// <summary>The comparison's report.html: the policies' figures in one table, their host memory and stall time on shared charts, and each one's host memory by use.</summary>
public static class CompareReport
{
    /// <param name="notes">What was changed in the scenario for a run (a mechanism a hypervisor does not have, turned off), one sentence each.</param>
    public static void Write(Stream output, Scenario scenario, IReadOnlyList<RunResult> runs, IReadOnlyList<PolicyOutcome> outcomes, IReadOnlyList<string>? notes = null)
    {
        bool byHypervisor = outcomes.Select(o => o.Hypervisor).Distinct().Count() > 1;
        bool byTiering = outcomes.Count > 0 && outcomes.All(o => o.Tiers is not null && TieringLab.Names.Contains(o.Name));
        bool byLargePages = outcomes.Count > 0 && outcomes.All(o => o.LargePages is not null);
        string what = byHypervisor ? "hypervisors" : byTiering ? "ways of tiering" : byLargePages ? "ways of using large pages" : "policies";
        var html = new StringBuilder();
        html.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>Memvisor: ").Append(Encode(scenario.Name))
            .Append(" compared</title><style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}td:first-child{text-align:left}</style></head><body>");
        html.Append("<h1>").Append(Encode(scenario.Name)).Append(": ").Append(what).Append(" compared</h1>");
        html.Append(CultureInfo.InvariantCulture, $"<p>The same guests, workloads and seed ({(runs.Count > 0 ? runs[0].Seed : scenario.Seed)}) on each of the {what}, {scenario.DurationNs / 1e9:0.#} simulated seconds. Each run's own report is in its directory.</p>");
        if (notes is { Count: > 0 })
        {
            html.Append("<p>Changed for a run:</p><ul>");
            foreach (var n in notes) html.Append("<li>").Append(Encode(n)).Append("</li>");
            html.Append("</ul>");
        }
        html.Append("<table><tr><th>Run</th><th>Hypervisor</th><th>Policy</th><th>Peak used (MiB)</th><th>Mean used (MiB)</th><th>VMs fit</th><th>Major faults</th><th>Swap-ins</th>"
            + "<th>Stall (s)</th><th>Stall (% of run)</th><th>Reclaim mean / max (s)</th><th>Unmet</th><th>OOM kills</th><th>Integrity errors</th><th>Actions</th></tr>");
        foreach (var o in outcomes)
            html.Append(CultureInfo.InvariantCulture,
                $"<tr><td><a href=\"{Encode(o.Name)}/report.html\">{Encode(o.Name)}</a></td><td>{Encode(o.Hypervisor)}</td><td>{Encode(o.Policy)}</td><td>{o.PeakHostUsedMib:0}</td><td>{o.MeanHostUsedMib:0.#}</td><td>{o.VmsFit}/{o.Vms}</td>"
                + $"<td>{o.MajorFaults}</td><td>{o.SwapIns}</td><td>{o.StallS:0.###}</td><td>{o.StallShare * 100:0.###}</td><td>{o.ReclaimMeanS:0.##} / {o.ReclaimMaxS:0.##}</td>"
                + $"<td>{o.ReclaimUnmet}</td><td>{o.OomKills}</td><td>{o.IntegrityErrors}</td><td>{o.PolicyActions}</td></tr>");
        html.Append("</table>");
        CompareTiersSection.Write(html, outcomes);
        CompareLargePagesSection.Write(html, outcomes);
        if (runs.Count > 0)
        {
            double seconds = RunSeries.Seconds(runs[0]);
            html.Append("<h2>Host memory used (MiB)</h2>");
            SvgChart.Lines(html, [.. runs.Zip(outcomes).Select(p => Used(p.First, p.Second.Name))], seconds);
            html.Append("<h2>Guest stall time so far, all guests (s)</h2>");
            SvgChart.Lines(html, [.. runs.Zip(outcomes).Select(p => Stall(p.First, p.Second.Name))], seconds, "s");
            foreach (var (r, o) in runs.Zip(outcomes))
            {
                html.Append("<h2>").Append(Encode(o.Name)).Append(": host memory by use (MiB)</h2>");
                SvgChart.Stacked(html, RunSeries.HostLayers(r), seconds, RunSeries.HostMiB(r), "host memory");
            }
        }
        html.Append(SvgChart.RenderCheckScript).Append("</body></html>\n");
        output.Write(Encoding.UTF8.GetBytes(html.ToString()));
    }

    private static Series Used(RunResult r, string label)
    {
        int free = RunSeries.IndexOf(r, "host_free_pages");
        return new Series(label, [.. r.Timeseries.Rows.Select(row => (row.TimeNs / 1e9, row.Values[free] is long f ? (double?)((r.Frames - f) / 256.0) : null))]);
    }

    private static Series Stall(RunResult r, string label)
    {
        int c = RunSeries.IndexOf(r, "guests_stall_ms");
        return new Series(label, [.. r.Timeseries.Rows.Select(row => (row.TimeNs / 1e9, row.Values[c] is long ms ? (double?)(ms / 1000.0) : null))]);
    }

    private static string Encode(string s) => WebUtility.HtmlEncode(s);
}
