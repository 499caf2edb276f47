using Memvisor.Machine.Frames;
using Memvisor.Sim.Engine;

namespace Memvisor.Report;

/// <summary>Chart series read out of a run's time series, in MiB over simulated seconds.</summary>
internal static class RunSeries
{
    public static int IndexOf(RunResult r, string column)
    {
        var cols = r.Timeseries.Columns;
        for (int i = 0; i < cols.Count; i++) if (cols[i] == column) return i;
        return -1;
    }

    /// <summary>A column as MiB (or as it is, unscaled).</summary>
    public static Series Column(RunResult r, int column, string label, bool pages = true) =>
        new(label, [.. r.Timeseries.Rows.Select(row => (row.TimeNs / 1e9, row.Values[column] is long v ? (double?)(pages ? v / 256.0 : v) : null))]);

    public static Series? Column(RunResult r, string column, string label, bool pages = true)
    {
        int i = IndexOf(r, column);
        return i < 0 ? null : Column(r, i, label, pages);
    }

    /// <summary>
    /// Host memory by use, bottom up: what the domains hold, frames shared by content, the compression cache, tmem,
    /// the hypervisor's own and free, which add up to the host; then above the host, what sharing saved and what is
    /// swapped out: memory the guests have that the host does not hold.
    /// </summary>
    public static IReadOnlyList<Series> HostLayers(RunResult r)
    {
        string[] held = ["host_shared_pages", "host_compression_pages", "host_tmem_pages", "host_hypervisor_pages", "host_free_pages"];
        int[] idx = [.. held.Select(c => IndexOf(r, c))];
        var rows = r.Timeseries.Rows;
        var domains = new Series("domains", [.. rows.Select(row => (row.TimeNs / 1e9, (double?)((r.Frames - idx.Sum(i => i < 0 ? 0 : row.Values[i] ?? 0)) / 256.0)))]);
        var layers = new List<Series> { domains };
        string[] labels = ["shared frames", "compressed", "tmem", "hypervisor", "free"];
        for (int k = 0; k < held.Length; k++) if (idx[k] >= 0) layers.Add(Column(r, idx[k], labels[k]));
        if (Column(r, "sharing_saved_pages", "sharing saved (beyond host)") is { } saved) layers.Add(saved);
        if (Column(r, "paging_swapped_pages", "swapped out (beyond host)") is { } swapped) layers.Add(swapped);
        return layers;
    }

    public static double HostMiB(RunResult r) => PageSize.ToMiB(r.Frames);
    public static double Seconds(RunResult r) => Math.Max(1, r.Scenario.DurationNs / 1e9);
}
