using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Schema;
using System.Text.Json.Serialization.Metadata;

namespace Memvisor.Report.Json;

/// <summary>
/// The JSON Schemas of summary.json, compare.json and a sweep's sweep.json, exported from the records Report serializes (so they cannot
/// drift from the output): every object closed, every property that is always written required.
/// docs/schema/ holds them as <c>memvisor schema NAME</c> prints them.
/// </summary>
public static class OutputSchema
{
    public static IReadOnlyList<string> Names { get; } = ["summary", "compare", "sweep", "snapshot", "actions"];

    // The policy protocol's two messages (run --snapshots and decide; an external policy's stdin and stdout), serialized by reflection with SnapshotJson's options.
    private static readonly JsonSerializerOptions Protocol = new(Memvisor.Policy.Snapshot.SnapshotJson.Options) { TypeInfoResolver = new DefaultJsonTypeInfoResolver() };

    public static bool Exists(string name) => Names.Contains(name, StringComparer.Ordinal);

    /// <summary>The schema of <paramref name="name"/> (one of <see cref="Names"/>), as indented JSON text ending in a newline.</summary>
    public static string Export(string name)
    {
        JsonTypeInfo type = name switch
        {
            "summary" => SummaryJsonContext.Default.RunSummary,
            "compare" => SummaryJsonContext.Default.CompareSummary,
            "sweep" => SummaryJsonContext.Default.SweepSummary,
            "snapshot" => Protocol.GetTypeInfo(typeof(Memvisor.Policy.Snapshot.HostSnapshot)),
            "actions" => Protocol.GetTypeInfo(typeof(List<Memvisor.Policy.PolicyAction>)),
            _ => throw new ArgumentException($"There is no output schema '{name}'; the schemas are {string.Join(", ", Names)}.", nameof(name)),
        };
        var schema = type.GetJsonSchemaAsNode(new JsonSchemaExporterOptions { TransformSchemaNode = Close, TreatNullObliviousAsNonNullable = true });
        var root = new JsonObject
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["$id"] = $"https://memvisor.example/schema/{name}.schema.json",
            ["title"] = name switch
            {
                "snapshot" => "Memvisor policy snapshot: what run --snapshots writes, decide reads and an external policy gets",
                "actions" => "Memvisor policy actions: what decide prints and an external policy answers",
                _ => $"Memvisor {name}.json",
            },
        };
        foreach (var (key, value) in schema.AsObject().ToList())
        {
            schema.AsObject().Remove(key);
            root[key] = value;
        }
        root["type"] = name == "actions" ? "array" : "object"; // never null, though the exporter allows a null root

        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    // An object of a record: no keys beyond its properties, and those never left out (non-nullable) required.
    private static JsonNode Close(JsonSchemaExporterContext context, JsonNode node)
    {
        if (context.TypeInfo.Kind != JsonTypeInfoKind.Object || node is not JsonObject obj) return node;
        // A reference to a type described elsewhere carries its own closing there: beside a $ref, additionalProperties
        // would apply to the reference's object as well and refuse every key.
        if (obj.ContainsKey("$ref")) return node;
        obj["additionalProperties"] = false;
        var required = new JsonArray();
        foreach (var p in context.TypeInfo.Properties)
            if (p.Get is not null && !p.IsGetNullable && !MayBeNull(obj["properties"]?[p.Name])) required.Add(p.Name);
        if (required.Count > 0) obj["required"] = required;
        return node;
    }

    // The exporter marks a property that may be null with "null" among its types; such a property is left out when null.
    private static bool MayBeNull(JsonNode? property) =>
        property?["type"] is JsonArray types && types.Any(t => t?.GetValue<string>() == "null");
}
