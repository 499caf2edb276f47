using System.Text.Json;
using Memvisor.Report.Json;
using Memvisor.Sim.Summary;

namespace Memvisor.Report;

/// <summary>Writes summary.json: the run's <see cref="RunSummary"/>, serialized as it is (docs/schema/summary.schema.json).</summary>
public static class SummaryWriter
{
    public static void Write(Stream output, RunSummary summary) =>
        JsonSerializer.Serialize(output, summary, SummaryJsonContext.Default.RunSummary);
}
