using System.Text.Json;
using Memvisor.Report.Json;
using Memvisor.Report.Output;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Report;

/// <summary>Writes a comparison: compare.json (the outcomes, deterministic), report.html (the policies side by side) and each policy's run directory, atomically.</summary>
public static class CompareWriter
{
    /// <summary>Writes the comparison into <paramref name="output"/> (prepared before the runs) and commits it.</summary>
    public static void WriteAll(OutputDirectory output, Scenario scenario, IReadOnlyList<(RunResult Result, double WallSeconds)> runs, IReadOnlyList<PolicyOutcome> outcomes,
        IReadOnlyList<string>? notes = null)
    {
        output.WriteFile("compare.json", s => WriteJson(s, scenario, runs, outcomes, notes));
        output.WriteFile("report.html", s => CompareReport.Write(s, scenario, runs.Select(r => r.Result).ToList(), outcomes, notes));
        foreach (var ((result, wall), outcome) in runs.Zip(outcomes))
            ReportWriter.WriteRun(output, outcome.Name + "/", result, new RunInfo(wall, 0, 0, 0));
        output.Commit();
    }

    public static void WriteJson(Stream s, Scenario scenario, IReadOnlyList<(RunResult Result, double WallSeconds)> runs, IReadOnlyList<PolicyOutcome> outcomes,
        IReadOnlyList<string>? notes = null)
    {
        var summary = new CompareSummary(scenario.Name, runs.Count == 0 ? scenario.Seed : runs[0].Result.Seed, scenario.DurationNs / 1e9, outcomes, notes ?? []);
        JsonSerializer.Serialize(s, summary, SummaryJsonContext.Default.CompareSummary);
    }
}
