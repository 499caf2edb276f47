using Memvisor.Sim.Engine;

namespace Memvisor.Report;

/// <summary>Writes all of a run's files (summary.json, timeseries.csv, report.html, run.json) into one directory, atomically.</summary>
public static class ReportWriter
{
    public static void WriteAll(string directory, RunResult result, RunInfo info)
    {
        using var output = new OutputDirectory(directory);
        output.WriteFile("summary.json", s => SummaryWriter.Write(s, result));
        output.WriteFile("timeseries.csv", s => TimeseriesWriter.Write(s, result.Timeseries));
        output.WriteFile("report.html", s => HtmlReport.Write(s, result));
        output.WriteFile("run.json", s => info.Write(s, result));
        output.Commit();
    }
}
