using System.Globalization;
using System.Text;
using System.Text.Json;
using Memvisor.Report.Json;
using Memvisor.Report.Output;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Sweeps;

namespace Memvisor.Report;

/// <summary>
/// A sweep's files: each point's run directory with its point.json (written and committed as one output directory,
/// so a finished point is whole and an unfinished one is not there), and the merged sweep.csv and sweep.json.
/// </summary>
public static class SweepWriter
{
    public const string PointFile = "point.json";

    /// <summary>Writes a finished point into <paramref name="output"/> and commits it.</summary>
    /// <param name="density">The density the sweep's fit found at the point (result being its best count's run); null without a fit.</param>
    public static SweepPointRecord WritePoint(OutputDirectory output, SweepPoint point, RunResult result, double wallSeconds, int? density = null)
    {
        var record = new SweepPointRecord(point.Index, point.Hash, [.. point.Values.Select(v => new SweepValue(v.Key, v.Value))], PolicyOutcome.From(result)) { Density = density };
        ReportWriter.WriteRun(output, "", result, new RunInfo(wallSeconds, 0, 0, 0));
        output.WriteFile(PointFile, s => JsonSerializer.Serialize(s, record, SummaryJsonContext.Default.SweepPointRecord));
        output.Commit();
        return record;
    }

    /// <summary>
    /// The record of <paramref name="point"/> if its directory holds it finished: every file its manifest lists there
    /// unchanged, and a point.json of the same hash and values. Null otherwise (the point is run again). The record
    /// takes the point's index in this sweep.
    /// </summary>
    public static SweepPointRecord? TryReadPoint(string directory, SweepPoint point)
    {
        string file = Path.Combine(directory, PointFile);
        try
        {
            if (OutputManifest.TryRead(directory) is not { } manifest || !manifest.Files.Any(f => f.Path == PointFile)
                || !manifest.Files.All(f => File.Exists(Path.Combine(directory, f.Path)) && OutputManifest.Unchanged(Path.Combine(directory, f.Path), f.Bytes, f.Hash)))
                return null;
            using var s = File.OpenRead(file);
            var record = JsonSerializer.Deserialize(s, SummaryJsonContext.Default.SweepPointRecord);
            if (record is null || record.Hash != point.Hash || !record.Values.Select(v => (v.Key, v.Value)).SequenceEqual(point.Values)) return null;
            return record with { Index = point.Index };
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Writes sweep.json, sweep.csv (one row a point, in index order) and report.html into <paramref name="output"/> and commits it.</summary>
    public static void WriteResults(OutputDirectory output, SweepSpec spec, IReadOnlyList<SweepPointRecord> records)
    {
        var ordered = records.OrderBy(r => r.Index).ToList();
        var summary = new SweepSummary(spec.Name, spec.Scenario, spec.Zip ? "zip" : "cross", [.. spec.Axes.Select(a => a.Key)], spec.PointCount, ordered)
        {
            Fit = spec.Fit is { } fit ? new SweepFitSummary(fit.Domain, fit.MaxCount, fit.MaxStallShare) : null,
        };
        output.WriteFile("sweep.json", s => JsonSerializer.Serialize(s, summary, SummaryJsonContext.Default.SweepSummary));
        output.WriteFile("sweep.csv", s => WriteCsv(s, spec, ordered));
        output.WriteFile("report.html", s => SweepReport.Write(s, spec, ordered));
        output.Commit();
    }

    private static readonly string[] Figures = ["hypervisor", "policy", "peak_host_used_mib", "mean_host_used_mib", "vms_fit", "vms", "major_faults", "swap_ins", "stall_s",
        "stall_share", "reclaim_mean_s", "reclaim_max_s", "reclaim_unmet", "oom_kills", "integrity_errors", "policy_actions"];

    private static void WriteCsv(Stream s, SweepSpec spec, IReadOnlyList<SweepPointRecord> records)
    {
        var text = new StringBuilder();
        bool fit = spec.Fit is not null;
        text.AppendJoin(',', ["index", "hash", .. spec.Axes.Select(a => Csv(a.Key)), .. Figures, .. fit ? ["density"] : Array.Empty<string>()]).Append('\n');
        foreach (var r in records)
        {
            var o = r.Outcome;
            string[] figures = [o.Hypervisor, o.Policy, F(o.PeakHostUsedMib), F(o.MeanHostUsedMib), I(o.VmsFit), I(o.Vms), I(o.MajorFaults), I(o.SwapIns), F(o.StallS),
                F(o.StallShare), F(o.ReclaimMeanS), F(o.ReclaimMaxS), I(o.ReclaimUnmet), I(o.OomKills), I(o.IntegrityErrors), I(o.PolicyActions)];
            text.AppendJoin(',', [I(r.Index), r.Hash, .. r.Values.Select(v => Csv(v.Value)), .. figures.Select(Csv), .. fit ? [I(r.Density ?? 0)] : Array.Empty<string>()]).Append('\n');
        }
        s.Write(Encoding.UTF8.GetBytes(text.ToString()));
    }

    private static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
    private static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

    // RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
    private static string Csv(string v) => v.IndexOfAny([',', '"', '\n', '\r']) < 0 ? v : $"\"{v.Replace("\"", "\"\"")}\"";
}
