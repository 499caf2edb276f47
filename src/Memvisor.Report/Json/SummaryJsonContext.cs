using System.Text.Json.Serialization;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Summary;

namespace Memvisor.Report.Json;

/// <summary>
/// The serializer for summary.json, compare.json and a sweep's point.json and sweep.json, generated at build time: keys are the records' property names
/// in snake_case, in declaration order, and absent values are left out, so equal runs give equal bytes.
/// </summary>
[JsonSourceGenerationOptions(
    WriteIndented = true,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(RunSummary))]
[JsonSerializable(typeof(CompareSummary))]
[JsonSerializable(typeof(Memvisor.Sim.Sweeps.SweepPointRecord))]
[JsonSerializable(typeof(Memvisor.Sim.Sweeps.SweepSummary))]
public sealed partial class SummaryJsonContext : JsonSerializerContext;
