using System.Text.Json;
using Memvisor.Report.Output;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Report;

/// <summary>Writes a comparison: compare.json (the outcomes, deterministic), report.html (the policies side by side) and each policy's run directory, atomically.</summary>
public static class CompareWriter
{
    /// <summary>Writes the comparison into <paramref name="output"/> (prepared before the runs) and commits it.</summary>
    public static void WriteAll(OutputDirectory output, Scenario scenario, IReadOnlyList<(RunResult Result, double WallSeconds)> runs, IReadOnlyList<PolicyOutcome> outcomes)
    {
        output.WriteFile("compare.json", s => WriteJson(s, scenario, runs, outcomes));
        output.WriteFile("report.html", s => CompareReport.Write(s, scenario, runs.Select(r => r.Result).ToList(), outcomes));
        foreach (var ((result, wall), outcome) in runs.Zip(outcomes))
            ReportWriter.WriteRun(output, outcome.Policy + "/", result, new RunInfo(wall, 0, 0, 0));
        output.Commit();
    }

    public static void WriteJson(Stream s, Scenario scenario, IReadOnlyList<(RunResult Result, double WallSeconds)> runs, IReadOnlyList<PolicyOutcome> outcomes)
    {
        using var w = new Utf8JsonWriter(s, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("scenario", scenario.Name);
        w.WriteNumber("seed", runs.Count == 0 ? scenario.Seed : runs[0].Result.Seed);
        w.WriteNumber("duration_s", scenario.DurationNs / 1e9);
        w.WriteStartArray("policies");
        foreach (var o in outcomes)
        {
            w.WriteStartObject();
            w.WriteString("policy", o.Policy);
            w.WriteNumber("peak_host_used_mib", o.PeakHostUsedMiB);
            w.WriteNumber("mean_host_used_mib", o.MeanHostUsedMiB);
            w.WriteNumber("vms_fit", o.VmsFit);
            w.WriteNumber("vms", o.Vms);
            w.WriteNumber("major_faults", o.MajorFaults);
            w.WriteNumber("swap_ins", o.SwapIns);
            w.WriteNumber("stall_s", o.StallSeconds);
            w.WriteNumber("stall_share", o.StallShare);
            w.WriteNumber("reclaim_mean_s", o.ReclaimMeanSeconds);
            w.WriteNumber("reclaim_max_s", o.ReclaimMaxSeconds);
            w.WriteNumber("reclaim_unmet", o.ReclaimUnmet);
            w.WriteNumber("oom_kills", o.OomKills);
            w.WriteNumber("integrity_errors", o.IntegrityErrors);
            w.WriteNumber("policy_actions", o.PolicyActions);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
