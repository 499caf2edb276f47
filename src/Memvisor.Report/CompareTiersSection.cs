using System.Globalization;
using System.Text;
using Memvisor.Sim.Lab;

namespace Memvisor.Report;

/// <summary>compare --tiering's part of report.html: each way of tiering's slowdown against all-DRAM, where the accesses went, and the pages it moved.</summary>
internal static class CompareTiersSection
{
    public static void Write(StringBuilder html, IReadOnlyList<PolicyOutcome> outcomes)
    {
        var tiered = outcomes.Where(o => o.Tiers is not null).ToList();
        if (tiered.Count == 0) return;
        html.Append("<h2>Tiers</h2><p>Slowdown: the share of the guests' run time they waited on memory beyond what they waited with all the memory DRAM (the all-dram run); "
            + "accesses lost: the accesses they did not get to in the same simulated time. Slow tier: the nodes that are not DRAM (docs/model.md, \"Memory nodes and tiers\").</p>");
        html.Append("<table><tr><th>Run</th><th>Guest accesses</th><th>Accesses lost (%)</th><th>Slowdown (%)</th><th>Slow-tier accesses (%)</th><th>Extra access time (s)</th>"
            + "<th>Guest MiB off DRAM at end</th><th>Promoted</th><th>Demoted</th><th>Shootdowns</th><th>Slow-tier writes</th></tr>");
        foreach (var o in tiered)
        {
            var t = o.Tiers!;
            html.Append(CultureInfo.InvariantCulture,
                $"<tr><td>{HtmlReport.Encode(o.Name)}</td><td>{t.Accesses}</td><td>{Share(t.AccessesLost)}</td><td>{Share(t.Slowdown)}</td><td>{t.SlowAccessShare * 100:0.##}</td>"
                + $"<td>{t.ExtraAccessS:0.###}</td><td>{t.SlowPagesEndMib:0.#}</td><td>{t.Promoted}</td><td>{t.Demoted}</td><td>{t.Shootdowns}</td><td>{t.SlowWrites}</td></tr>");
        }
        html.Append("</table>");
        if (tiered.Any(o => o.Tiers!.Slowdown is not null))
        {
            html.Append("<h2>Slowdown against all-DRAM (% of the guests' run time)</h2>");
            SvgChart.Bars(html, [.. tiered.Select(o => (o.Name, 100 * (o.Tiers!.Slowdown ?? 0)))], "% of run time");
        }
        html.Append("<h2>Accesses served by the slow tier (%)</h2>");
        SvgChart.Bars(html, [.. tiered.Select(o => (o.Name, 100 * o.Tiers!.SlowAccessShare))], "% of accesses");
    }

    private static string Share(double? v) => v is double s ? (s * 100).ToString("0.##", CultureInfo.InvariantCulture) : "-";
}
