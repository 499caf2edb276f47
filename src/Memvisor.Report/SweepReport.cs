using System.Globalization;
using System.Net;
using System.Text;
using Memvisor.Sim.Sweeps;

namespace Memvisor.Report;

/// <summary>A sweep's report.html: every point's values and figures in one table, the figures against each axis, grids over two axes, and each headline figure per point as bars.</summary>
public static class SweepReport
{
    public static void Write(Stream output, SweepSpec spec, IReadOnlyList<SweepPointRecord> records)
    {
        var html = new StringBuilder();
        html.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>Memvisor sweep: ").Append(Encode(spec.Name))
            .Append("</title><style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}td:first-child{text-align:left}</style></head><body>");
        html.Append("<h1>Sweep ").Append(Encode(spec.Name)).Append("</h1>");
        html.Append(CultureInfo.InvariantCulture, $"<p>{records.Count} point(s) of {Encode(spec.Scenario)}, the axes {(spec.Zip ? "zipped" : "crossed")}: {Encode(string.Join(", ", spec.Axes.Select(a => a.Key)))}. Each point's own report is in points/.</p>");
        html.Append("<table><tr><th>Point</th>");
        foreach (var a in spec.Axes) html.Append("<th>").Append(Encode(a.Key)).Append("</th>");
        html.Append("<th>Policy</th><th>Peak used (MiB)</th><th>Mean used (MiB)</th><th>VMs fit</th><th>Major faults</th><th>Stall (% of run)</th><th>OOM kills</th><th>Integrity errors</th>");
        if (spec.Fit is { } fit) html.Append("<th>Density (").Append(Encode(fit.Domain)).Append(")</th>");
        html.Append("</tr>");
        foreach (var r in records)
        {
            var o = r.Outcome;
            html.Append(CultureInfo.InvariantCulture, $"<tr><td><a href=\"../points/{Encode(r.Hash)}/report.html\">{r.Index}</a></td>");
            foreach (var v in r.Values) html.Append("<td>").Append(Encode(v.Value)).Append("</td>");
            html.Append(CultureInfo.InvariantCulture, $"<td>{Encode(o.Policy)}</td><td>{o.PeakHostUsedMib:0}</td><td>{o.MeanHostUsedMib:0.#}</td><td>{o.VmsFit}/{o.Vms}</td><td>{o.MajorFaults}</td>"
                + $"<td>{o.StallShare * 100:0.###}</td><td>{o.OomKills}</td><td>{o.IntegrityErrors}</td>");
            if (spec.Fit is not null) html.Append(CultureInfo.InvariantCulture, $"<td>{r.Density ?? 0}</td>");
            html.Append("</tr>");
        }
        html.Append("</table>");
        if (spec.Fit is { } search)
            html.Append(CultureInfo.InvariantCulture, $"<p>Density: the most {Encode(search.Domain)} (up to {search.MaxCount}) that ran with guest stall at most {search.MaxStallShare * 100:0.###}% of run time, no OOM kill, every domain created and no integrity error, under the point's policy; the point's figures are that count's run.</p>");
        AgainstAxes(html, spec, records);
        Heatmaps(html, spec, records);
        string Label(SweepPointRecord r) => $"{r.Index}: {string.Join(", ", r.Values.Select(v => v.Value))}";
        html.Append("<h2>Guest stall per point (% of the guests' run time)</h2>");
        SvgChart.Bars(html, [.. records.Select(r => (Label(r), 100 * r.Outcome.StallShare))], "% of run time");
        html.Append("<h2>Peak host memory used per point (MiB)</h2>");
        SvgChart.Bars(html, [.. records.Select(r => (Label(r), r.Outcome.PeakHostUsedMib))], "MiB");
        html.Append("<h2>VMs that fit per point</h2>");
        SvgChart.Bars(html, [.. records.Select(r => (Label(r), (double)r.Outcome.VmsFit))], "VMs");
        html.Append(SvgChart.RenderCheckScript).Append("</body></html>\n");
        output.Write(Encoding.UTF8.GetBytes(html.ToString()));
    }

    // Each headline figure against each axis, one line per policy when the sweep varies the policy (else one line),
    // averaged over the points that share the axis's value (and the policy): the shape of the sweep at a glance.
    private static void AgainstAxes(StringBuilder html, SweepSpec spec, IReadOnlyList<SweepPointRecord> records)
    {
        bool byPolicy = spec.Axes.Any(a => a.Key == PolicyKey);
        var lines = byPolicy ? records.Select(r => ValueOf(r, PolicyKey)!).Distinct().ToList() : ["all points"];
        var figures = Figures(spec);
        foreach (var axis in spec.Axes.Where(a => a.Key != PolicyKey))
        {
            var categories = records.Select(r => ValueOf(r, axis.Key)!).Distinct().ToList();
            if (categories.Count < 2) continue;
            foreach (var (title, unit, of) in figures)
            {
                html.Append("<h2>").Append(Encode(title)).Append(" against ").Append(Encode(axis.Key)).Append(byPolicy ? ", per policy" : "").Append(" (mean over the other axes)</h2>");
                var series = lines.Select(line => (line, (IReadOnlyList<double?>)[.. categories.Select(c =>
                {
                    var at = records.Where(r => ValueOf(r, axis.Key) == c && (!byPolicy || ValueOf(r, PolicyKey) == line)).ToList();
                    return at.Count == 0 ? (double?)null : at.Average(of);
                })])).ToList();
                SvgChart.Categories(html, categories, series, unit, axis.Key);
            }
        }
    }

    private const string PolicyKey = "policy.name";

    private static string? ValueOf(SweepPointRecord r, string key) => r.Values.FirstOrDefault(v => v.Key == key)?.Value;

    // The figures drawn against the axes: stall and peak memory, and with a fit the density found.
    private static (string Title, string Unit, Func<SweepPointRecord, double> Of)[] Figures(SweepSpec spec) =>
    [
        ("Guest stall", "% of run time", r => 100 * r.Outcome.StallShare),
        ("Peak host memory used", "MiB", r => r.Outcome.PeakHostUsedMib),
        .. spec.Fit is { } fit ? [($"Density ({fit.Domain} that fit)", "domains", (Func<SweepPointRecord, double>)(r => r.Density ?? 0))] : Array.Empty<(string, string, Func<SweepPointRecord, double>)>(),
    ];

    // The first two axes other than the policy with two values or more, as a grid: guest stall (and the density, with a fit) in each cell,
    // the mean over the other axes, one grid per policy when the sweep varies it.
    private static void Heatmaps(StringBuilder html, SweepSpec spec, IReadOnlyList<SweepPointRecord> records)
    {
        var axes = spec.Axes.Where(a => a.Key != PolicyKey).Select(a => (a.Key, Values: records.Select(r => ValueOf(r, a.Key)!).Distinct().ToList()))
            .Where(a => a.Values.Count >= 2).Take(2).ToList();
        if (axes.Count < 2) return;
        var (rows, columns) = (axes[0], axes[1]);
        bool byPolicy = spec.Axes.Any(a => a.Key == PolicyKey);
        var policies = byPolicy ? records.Select(r => ValueOf(r, PolicyKey)!).Distinct().ToList() : [""];
        foreach (var (title, unit, of) in Figures(spec).Where(f => f.Title != "Peak host memory used"))
            foreach (var policy in policies)
            {
                html.Append("<h2>").Append(Encode(title)).Append(" by ").Append(Encode(rows.Key)).Append(" and ").Append(Encode(columns.Key))
                    .Append(byPolicy ? $", {Encode(policy)}" : "").Append(" (mean over the other axes)</h2>");
                var grid = new double?[rows.Values.Count, columns.Values.Count];
                for (int i = 0; i < rows.Values.Count; i++)
                    for (int j = 0; j < columns.Values.Count; j++)
                    {
                        var at = records.Where(r => ValueOf(r, rows.Key) == rows.Values[i] && ValueOf(r, columns.Key) == columns.Values[j] && (!byPolicy || ValueOf(r, PolicyKey) == policy)).ToList();
                        grid[i, j] = at.Count == 0 ? null : at.Average(of);
                    }
                SvgChart.Heatmap(html, rows.Values, columns.Values, grid, unit, rows.Key, columns.Key);
            }
    }

    private static string Encode(string s) => WebUtility.HtmlEncode(s);
}
