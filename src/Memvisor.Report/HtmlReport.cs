using System.Globalization;
using System.Net;
using System.Text;
using Memvisor.Machine.Frames;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Summary;

namespace Memvisor.Report;

/// <summary>report.html: a self-contained page with the host's and each domain's memory over simulated time as SVG charts, and the end state as a table.</summary>
public static class HtmlReport
{
    public static void Write(Stream output, RunResult r)
    {
        var html = new StringBuilder();
        html.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>Memvisor: ")
            .Append(Encode(r.Scenario.Name))
            .Append("</title><style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}td:first-child{text-align:left}</style></head><body>");
        html.Append("<h1>").Append(Encode(r.Scenario.Name)).Append("</h1>");
        string hosts = r.Summary.Hosts is { } several ? $"{several.Count} hosts of {PageSize.ToMiB(r.AllFrames)} MiB in all (the host charts below are the first host's, {Encode(r.Summary.Host.Name ?? "")}, of {PageSize.ToMiB(r.Frames)} MiB)"
            : $"host of {PageSize.ToMiB(r.Frames)} MiB on {r.Scenario.Host.NumaNodes} NUMA node(s)";
        html.Append(CultureInfo.InvariantCulture, $"<p>Seed {r.Seed}, {r.Scenario.DurationNs / 1e9:0.#} simulated seconds, {hosts}. ");
        html.Append(CultureInfo.InvariantCulture, $"Accounting {(r.AccountingHeld ? "added up at every step" : "<b>did not add up</b>")}; {r.ErrorsTotal} refused request(s).</p>");

        HostsTable(html, r);
        TiersSection.Write(html, r);
        var cols = r.Timeseries.Columns;
        html.Append("<h2>Host memory by use (MiB)</h2><p>Bottom up to the dashed line, the host's frames; above it, guest memory the host does not hold because sharing saved it or it is swapped out.</p>");
        SvgChart.Stacked(html, RunSeries.HostLayers(r), RunSeries.Seconds(r), RunSeries.HostMiB(r), "host memory");
        html.Append("<h2>Host free and scrub-pending memory (MiB)</h2>");
        Chart(html, r, [0, 1, 2], i => cols[i].Replace("host_", "").Replace("_pages", ""));
        html.Append("<h2>Domain memory: tot_pages (MiB)</h2>");
        Chart(html, r, ColumnsEndingWith(cols, "_tot_pages"), i => cols[i].Replace("_tot_pages", ""));
        int[] mechanisms = [.. new[] { "host_shared_pages", "sharing_saved_pages", "host_compression_pages", "paging_swapped_pages", "host_tmem_pages", "tmem_held_pages" }
            .Select(c => IndexOf(cols, c)).Where(i => i >= 0 && r.Timeseries.Rows.Any(row => row.Values[i] is > 0))];
        if (mechanisms.Length > 0)
        {
            html.Append("<h2>Overcommit mechanisms (MiB)</h2>");
            Chart(html, r, mechanisms, i => cols[i].Replace("_pages", ""));
        }
        html.Append("<h2>Domain balloon targets: memory/target (MiB)</h2>");
        Chart(html, r, ColumnsEndingWith(cols, "_target_pages"), i => cols[i].Replace("_target_pages", ""));
        int[] paged = [.. ColumnsEndingWith(cols, "_paged_out_gfns").Where(i => r.Timeseries.Rows.Any(row => row.Values[i] is > 0))];
        if (paged.Length > 0)
        {
            html.Append("<h2>Guest memory the hypervisor paged out or compressed (MiB)</h2>");
            Chart(html, r, paged, i => cols[i].Replace("_paged_out_gfns", ""));
        }
        MechanismTable(html, r);
        MmuSection(html, r);
        VramSection(html, r);
        MoveSections.Write(html, r);
        var wss = ColumnsEndingWith(cols, "_wss_pages");
        if (wss.Length > 0)
        {
            html.Append("<h2>Working sets of replayed traces (MiB touched per window)</h2>");
            Chart(html, r, wss, i => cols[i].Replace("_wss_pages", ""));
        }
        foreach (var d in r.Domains.Where(d => d.Spec is not null && d.State != DomainState.NotCreated))
        {
            string prefix = d.Name + "_";
            int[] guest = [.. new[] { "mem_free_pages", "cached_pages", "anon_pages", "swap_used_pages" }.Select(c => IndexOf(cols, prefix + c)).Where(i => i >= 0)];
            html.Append("<h2>").Append(Encode(d.Name)).Append(": target, actual and working set (MiB)</h2>");
            int[] sizes = [.. new[] { "target_pages", "tot_pages", "active_pages" }.Select(c => IndexOf(cols, prefix + c)).Where(i => i >= 0)];
            Chart(html, r, sizes, i => cols[i][prefix.Length..] switch { "target_pages" => "target", "tot_pages" => "actual (tot_pages)", _ => "working set (sampled)" });
            html.Append("<h2>").Append(Encode(d.Name)).Append(": guest memory (MiB)</h2>");
            Chart(html, r, guest, i => cols[i][prefix.Length..].Replace("_pages", ""));
        }

        html.Append("<h2>Domains at the end</h2><table><tr><th>Name</th><th>ID</th><th>State</th><th>Mem (MiB)</th><th>MaxMem (MiB)</th><th>tot_pages</th>"
            + "<th>major faults</th><th>swap-ins</th><th>swap-outs</th><th>OOM kills</th><th>stalled (s)</th></tr>");
        foreach (var d in r.Summary.Domains)
        {
            var g = d.Guest;
            html.Append(CultureInfo.InvariantCulture,
                $"<tr><td>{Encode(d.Name)}</td><td>{d.Domid}</td><td>{d.State}</td><td>{PageSize.ToMiB(d.TotPages)}</td><td>{PageSize.ToMiB(d.MaxPages)}</td><td>{d.TotPages}</td>"
                + $"<td>{g?.MajorFaults}</td><td>{g?.SwapIns}</td><td>{g?.SwapOuts}</td><td>{g?.OomKills}</td><td>{(g is null ? "" : (g.StallMs / 1e3).ToString("0.0", CultureInfo.InvariantCulture))}</td></tr>");
        }
        html.Append("</table>").Append(SvgChart.RenderCheckScript).Append("</body></html>\n");
        var bytes = Encoding.UTF8.GetBytes(html.ToString());
        output.Write(bytes);
    }

    // What each mechanism did over the run, in the units of summary.json's mechanisms.
    private static void MechanismTable(StringBuilder html, RunResult r)
    {
        var m = r.Summary.Mechanisms;
        (string, string, string)[] rows =
        [
            ("balloon", "pages given back / taken back", $"{m.Balloon.PagesGivenBack} / {m.Balloon.PagesTakenBack}"),
            ("balloon", "stuck / uncooperative / self-balloon moves", $"{m.Balloon.Stuck} / {m.Balloon.Uncooperative} / {m.Balloon.SelfballoonAdjustments}"),
            ("sharing", "pages shared / sharing / saved", $"{m.Sharing.PagesShared} / {m.Sharing.PagesSharing} / {m.Sharing.SavedPages}"),
            ("sharing", "zero pages / copy-on-write breaks", $"{m.Sharing.ZeroPages} / {m.Sharing.CowBreaks}"),
            ("paging", "paged out / paged in", $"{m.Paging.PagedOut} / {m.Paging.PagedIn}"),
            ("compression", "pages compressed / ratio", string.Create(CultureInfo.InvariantCulture, $"{m.Compression.PagesCompressed} / {m.Compression.Ratio:0.00}")),
            ("tmem", "puts / gets", $"{m.Tmem.Puts} / {m.Tmem.Gets}"),
            ("free page reporting", "pages reported", $"{m.FreePageReporting.PagesReported}"),
            ("hot-plug", "pages added / removed", $"{m.Hotplug.PagesAdded} / {m.Hotplug.PagesRemoved}"),
            ("integrity", "verified reads / errors", $"{r.Summary.Integrity.VerifiedReads} / {r.Summary.Integrity.Errors}"),
        ];
        html.Append("<h2>Mechanisms over the run</h2><table><tr><th>Mechanism</th><th>Figure</th><th>Value</th></tr>");
        foreach (var (mechanism, figure, value) in rows)
            html.Append("<tr><td>").Append(Encode(mechanism)).Append("</td><td>").Append(Encode(figure)).Append("</td><td>").Append(Encode(value)).Append("</td></tr>");
        html.Append("</table>");
    }

    // How each domain's MMU mode paid for its page tables: trips into the hypervisor per demand fault, and walk references per TLB miss.
    private static void MmuSection(StringBuilder html, RunResult r)
    {
        var rows = r.Domains.Where(d => d.State != DomainState.NotCreated).Zip(r.Summary.Domains)
            .Where(x => x.First.Spec is not null && x.Second.Mmu is not null).Select(x => (x.Second.Name, Stats: x.Second.Mmu!)).ToList();
        if (rows.Count == 0) return;
        static double PerFault(MmuSummary s) => s.DemandFaults == 0 ? 0 : (double)s.HypervisorTrips / s.DemandFaults;
        static double MeanWalk(MmuSummary s) => s.Walks == 0 ? 0 : (double)s.WalkRefsTotal / s.Walks;
        html.Append("<h2>MMU virtualization</h2><p>Trips into the hypervisor are exits plus hypercalls. A demand fault is a page fault the guest's own handler served; "
            + "under Shadow-2 each page-table write of it is trapped and emulated, under Shadow-3 the page table is out of sync and only the access traps once more, "
            + "under PV the fault is bounced through Xen and the entry written by mmu_update, and under nested paging (hap) nothing traps.</p>");
        html.Append("<table><tr><th>Domain</th><th>mmu</th><th>trips</th><th>trips per demand fault</th><th>page-fault exits</th><th>page-table-write exits</th><th>CR3 exits</th><th>INVLPG exits</th>"
            + "<th>hypercalls</th><th>updates per hypercall</th><th>TLB hits %</th><th>walk refs max</th><th>walk refs mean</th><th>hypervisor (s)</th></tr>");
        foreach (var (name, s) in rows)
        {
            long lookups = s.TlbHits + s.TlbMisses;
            html.Append(CultureInfo.InvariantCulture,
                $"<tr><td>{Encode(name)}</td><td>{s.Mode}</td><td>{s.HypervisorTrips}</td><td>{PerFault(s):0.00}</td><td>{s.Exits.PageFault}</td><td>{s.Exits.PageTableWrite}</td>"
                + $"<td>{s.Exits.Cr3Write}</td><td>{s.Exits.Invlpg}</td><td>{s.Hypercalls}</td><td>{s.UpdatesPerHypercall:0.00}</td>"
                + $"<td>{(lookups == 0 ? 0 : 100.0 * s.TlbHits / lookups):0.0}</td><td>{s.WalkRefsMax}</td><td>{MeanWalk(s):0.00}</td><td>{s.HypervisorMs / 1e3:0.000}</td></tr>");
        }
        html.Append("</table>");
        var faulting = rows.Where(x => x.Stats.DemandFaults > 0).ToList();
        if (faulting.Count > 0)
        {
            html.Append("<h2>Trips into the hypervisor per demand fault</h2>");
            SvgChart.Bars(html, [.. faulting.Select(x => (x.Name == x.Stats.Mode ? x.Name : $"{x.Name} ({x.Stats.Mode})", PerFault(x.Stats)))], "trips per demand fault");
        }
        html.Append("<h2>Memory references per page walk (TLB miss)</h2><p>Worst case, then mean. With 4 KiB pages in both dimensions and no walk caches a nested walk takes 24; "
            + "2 MiB nested pages take one reference off each of the five guest-physical translations (19); the walk caches take most of the rest.</p>");
        SvgChart.Bars(html, [.. rows.Select(x => ($"{x.Name}: worst", (double)x.Stats.WalkRefsMax))], "references per walk, worst case");
        SvgChart.Bars(html, [.. rows.Select(x => ($"{x.Name}: mean", MeanWalk(x.Stats)))], "references per walk, mean");
    }

    // The device model's CPU time refreshing each video RAM, under the three ways of finding what the guest drew.
    private static void VramSection(StringBuilder html, RunResult r)
    {
        var tracked = r.Summary.Domains.Where(d => d.Vram is not null).Select(d => (d.Name, Vram: d.Vram!)).ToList();
        if (tracked.Count == 0) return;
        html.Append("<h2>Video RAM: the device model's CPU time per way of finding what the guest drew (ms)</h2><p>Polling compares every page with the last frame at each refresh; "
            + "tracking asks Xen once per refresh for the dirty pages, which it reads off the mappings' dirty bits; tracking with drop also stops tracking after two seconds "
            + "without a write, until the guest's next write faults (Xen 3.3).</p>");
        foreach (var (name, v) in tracked)
        {
            html.Append(CultureInfo.InvariantCulture, $"<p>{Encode(name)}: {v.Pages} pages, {v.Refreshes} refreshes, {v.DirtyPages} dirty pages returned, tracking dropped {v.Drops} time(s) and resumed {v.Resumes}.</p>");
            SvgChart.Bars(html, [("polling", v.PollingMs), ("tracking", v.TrackingMs), ("tracking with drop", v.TrackingWithDropMs)], "device-model CPU time over the run, ms");
        }
    }

    private static int[] ColumnsEndingWith(IReadOnlyList<string> columns, string suffix) =>
        [.. Enumerable.Range(0, columns.Count).Where(i => columns[i].EndsWith(suffix, StringComparison.Ordinal))];

    private static int IndexOf(IReadOnlyList<string> columns, string name)
    {
        for (int i = 0; i < columns.Count; i++) if (columns[i] == name) return i;
        return -1;
    }

    private static void Chart(StringBuilder html, RunResult r, int[] columns, Func<int, string> label) =>
        SvgChart.Lines(html, [.. columns.Select(c => RunSeries.Column(r, c, label(c)))], RunSeries.Seconds(r));

    internal static string Encode(string s) => WebUtility.HtmlEncode(s);

    // Several hosts: each one's memory and guests at the end.
    private static void HostsTable(StringBuilder html, RunResult r)
    {
        if (r.Summary.Hosts is not { } hosts) return;
        html.Append("<h2>Hosts</h2><table><tr><th>Host</th><th>MiB</th><th>free at end (MiB)</th><th>least free (MiB)</th><th>guests at end</th></tr>");
        foreach (var h in hosts)
        {
            string dom0 = Memvisor.Sim.Scenarios.ScenarioLoader.Dom0Name;
            var guests = r.Summary.Domains.Where(d => d.Host == h.Name && d.State == "running" && d.Name != dom0 && !d.Name.StartsWith(dom0 + "@", StringComparison.Ordinal)).Select(d => d.Name);
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{Encode(h.Name ?? "")}</td><td>{PageSize.ToMiB(h.Frames)}</td><td>{PageSize.ToMiB(h.FreePagesEnd)}</td>"
                + $"<td>{PageSize.ToMiB(h.FreePagesMin)}</td><td>{Encode(string.Join(", ", guests))}</td></tr>");
        }
        html.Append("</table>");
    }
}
