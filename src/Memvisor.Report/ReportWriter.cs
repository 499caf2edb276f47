using Memvisor.Policy.Snapshot;
using Memvisor.Report.Output;
using Memvisor.Sim.Engine;

namespace Memvisor.Report;

/// <summary>Writes all of a run's files (summary.json, timeseries.csv, report.html, run.json) into one directory, atomically.</summary>
public static class ReportWriter
{
    /// <summary>Writes the run into <paramref name="output"/> (prepared before the run) and commits it.</summary>
    public static void WriteAll(OutputDirectory output, RunResult result, RunInfo info)
    {
        WriteRun(output, "", result, info);
        output.Commit();
    }

    /// <summary>A run's four files under <paramref name="prefix"/> of a directory being written.</summary>
    internal static void WriteRun(OutputDirectory output, string prefix, RunResult result, RunInfo info)
    {
        output.WriteFile(prefix + "summary.json", s => SummaryWriter.Write(s, result.Summary));
        output.WriteFile(prefix + "timeseries.csv", s => TimeseriesWriter.Write(s, result.Timeseries));
        output.WriteFile(prefix + "report.html", s => HtmlReport.Write(s, result));
        output.WriteFile(prefix + "run.json", s => info.Write(s, result));
        foreach (var snapshot in result.Snapshots)
            output.WriteFile($"{prefix}snapshots/t{snapshot.TimeNs / 1_000_000:D8}ms.json", s => SnapshotJson.Write(s, snapshot));
    }
}
