using System.Globalization;
using System.Text;
using Memvisor.Sim.Lab;

namespace Memvisor.Report;

/// <summary>compare --large-pages' part of report.html: what 2 MiB pages saved in the TLB and the walks, and what splitting them cost.</summary>
internal static class CompareLargePagesSection
{
    public static void Write(StringBuilder html, IReadOnlyList<PolicyOutcome> outcomes)
    {
        var runs = outcomes.Where(o => o.LargePages is not null).ToList();
        if (runs.Count == 0) return;
        html.Append("<h2>Large pages</h2><p>The guests' TLB misses and the memory references their walks took, against the 2 MiB pages split at each level: "
            + "in the guest (transparent huge pages, before a swap-out or a page move) and at the host (p2m superpages broken to share, page out, give back or move a page of them). "
            + "Host split time is the hypervisor's (p2m_split_ns each); docs/model.md, \"Large pages\".</p>");
        html.Append("<table><tr><th>Run</th><th>Guest accesses</th><th>TLB misses (%)</th><th>Refs per walk</th><th>Stall (% of run)</th><th>Guest huge pages at end</th>"
            + "<th>Guest splits (reclaim / moves)</th><th>Fallbacks to 4 KiB</th><th>Host 2 MiB pages at end</th><th>Host broken (sharing / paging / released / moved)</th>"
            + "<th>Host split time (ms)</th><th>Sharing saved (MiB)</th><th>Peak used (MiB)</th></tr>");
        foreach (var o in runs)
        {
            var l = o.LargePages!;
            html.Append(CultureInfo.InvariantCulture,
                $"<tr><td>{HtmlReport.Encode(o.Name)}</td><td>{l.Accesses}</td><td>{l.TlbMissShare * 100:0.###}</td><td>{l.RefsPerWalk:0.##}</td><td>{o.StallShare * 100:0.###}</td>"
                + $"<td>{l.GuestHugePagesEnd}</td><td>{l.GuestSplitsReclaim} / {l.GuestSplitsMigration}</td><td>{l.GuestFallbacks}</td><td>{l.HostLargePagesEnd}</td>"
                + $"<td>{l.HostBroken} ({l.HostBrokenSharing} / {l.HostBrokenPaging} / {l.HostBrokenReleased} / {l.HostBrokenMoved})</td><td>{l.HostSplitMs:0.###}</td>"
                + $"<td>{l.SharedSavedMib:0.#}</td><td>{o.PeakHostUsedMib:0}</td></tr>");
        }
        html.Append("</table>");
        html.Append("<h2>TLB misses (% of translations)</h2>");
        SvgChart.Bars(html, [.. runs.Select(o => (o.Name, 100 * o.LargePages!.TlbMissShare))], "% of translations");
        html.Append("<h2>Memory references per page walk</h2>");
        SvgChart.Bars(html, [.. runs.Select(o => (o.Name, o.LargePages!.RefsPerWalk))], "references");
        html.Append("<h2>2 MiB pages split</h2>");
        SvgChart.Bars(html, [.. runs.Select(o => (o.Name, (double)(o.LargePages!.GuestSplitsReclaim + o.LargePages.GuestSplitsMigration + o.LargePages.HostBroken)))], "pages");
    }
}
