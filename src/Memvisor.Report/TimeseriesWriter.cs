using System.Globalization;
using System.Text;
using Memvisor.Sim.Metrics;

namespace Memvisor.Report;

/// <summary>Writes timeseries.csv: one row per sample, time in simulated seconds, then host and per-domain pages; blank where a domain was not running.</summary>
public static class TimeseriesWriter
{
    public static void Write(Stream output, Timeseries series)
    {
        using var w = new StreamWriter(output, new UTF8Encoding(false), leaveOpen: true) { NewLine = "\n" };
        w.WriteLine("time_s," + string.Join(',', series.Columns));
        var line = new StringBuilder();
        foreach (var (time, values) in series.Rows)
        {
            line.Clear().Append((time / 1e9).ToString("0.###", CultureInfo.InvariantCulture));
            foreach (var v in values) line.Append(',').Append(v?.ToString(CultureInfo.InvariantCulture));
            w.WriteLine(line);
        }
    }
}
