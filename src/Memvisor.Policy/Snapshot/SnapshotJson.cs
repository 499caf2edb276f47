using System.Text.Json;
using System.Text.Json.Serialization;

namespace Memvisor.Policy.Snapshot;

/// <summary>Snapshots as JSON (snake_case keys, docs/outputs.md "Policy snapshots"): what <c>run --snapshots</c> writes and <c>decide</c> reads.</summary>
public static class SnapshotJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        // A key given twice is refused, not read as its last value.
        AllowDuplicateProperties = false,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static void Write(Stream output, HostSnapshot snapshot) => JsonSerializer.Serialize(output, snapshot, Options);

    /// <summary>Reads a snapshot; throws <see cref="JsonException"/> (with the line and the path of the field) when it is not one.</summary>
    public static HostSnapshot Read(Stream input) =>
        JsonSerializer.Deserialize<HostSnapshot>(input, Options) ?? throw new JsonException("The file holds null, not a snapshot.");

    public static string Actions(IReadOnlyList<PolicyAction> actions) => JsonSerializer.Serialize(actions, Options);
}
