using System.Text.Json.Nodes;
using Json.Schema;
using Memvisor.Report;
using Memvisor.Report.Json;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Report;

/// <summary>summary.json and compare.json follow the schemas published in docs/schema/, and those are the schemas of the records Report writes.</summary>
public sealed class OutputSchemaTests
{
    // Long enough for every built-in to create its first domains and run its policy, short enough for the suite.
    private const long CapNs = 3_000_000_000;

    // Parsed once: JsonSchema.Net registers a schema under its $id and refuses a second registration.
    private static readonly Dictionary<string, JsonSchema> Schemas = OutputSchema.Names.ToDictionary(n => n,
        n => JsonSchema.FromText(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "schema", n + ".schema.json"))));

    private static JsonSchema Published(string name) => Schemas[name];

    private static void AssertValid(JsonSchema schema, string json, string what)
    {
        var result = schema.Evaluate(System.Text.Json.JsonDocument.Parse(json).RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        var errors = (result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"));
        Assert.True(result.IsValid, $"{what} does not follow its schema: {string.Join("; ", errors)}");
    }

    private static RunResult RunCapped(string builtin, string? policy = null)
    {
        var s = BuiltinScenarios.Load(builtin);
        s = s with { DurationNs = Math.Min(s.DurationNs, CapNs) };
        if (policy is not null) s = PolicyLab.WithPolicy(s, policy);
        return new Simulation(s).Run();
    }

    private static string Json(Action<Stream> write)
    {
        using var ms = new MemoryStream();
        write(ms);
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }

    [Theory]
    [InlineData("summary")]
    [InlineData("compare")]
    [InlineData("sweep")]
    public void The_published_schema_is_the_one_exported_from_the_records(string name) =>
        Assert.Equal(OutputSchema.Export(name), File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "schema", name + ".schema.json")));

    [Fact]
    public void Every_built_in_s_summary_follows_the_schema()
    {
        var schema = Published("summary");
        foreach (var name in BuiltinScenarios.Names)
            AssertValid(schema, Json(s => SummaryWriter.Write(s, RunCapped(name).Summary)), $"The summary of built-in '{name}'");
    }

    // A multi-host run with a tiered KVM host whose tiering and migratepages moved pages: hosts[] then carries every optional host object.
    [Fact]
    public void A_tiered_multi_host_summary_follows_the_schema()
    {
        const string yaml = """
            name: tiered
            seed: 2
            duration: 3s
            hosts:
              - name: a
                hypervisor: kvm
                nodes: [ { kind: dram, memory: 2GiB }, { kind: cxl, memory: 1GiB } ]
                tiering: { scan_interval: 1s }
              - { name: b, hypervisor: kvm, memory: 2GiB }
            domains:
              - { name: app, host: a, memory: 512MiB, workload: { kind: zipf, working_set: 448MiB, rate: 50000/s } }
            events:
              - { at: 1s, action: migratepages, domain: app, node: 1 }
            """;
        var r = new Simulation(ScenarioLoader.Parse(yaml, "t.yaml")).Run();
        Assert.NotNull(r.Summary.Hosts![0].Tiering);
        Assert.True(r.Summary.Hosts[0].PageMigrations!.Migrated > 0);
        AssertValid(Published("summary"), Json(s => SummaryWriter.Write(s, r.Summary)), "A tiered multi-host summary");
    }

    [Fact]
    public void A_comparison_follows_the_schema()
    {
        var scenario = BuiltinScenarios.Load("rebalance");
        var runs = new[] { "static", "squeezed" }.Select(p => (Result: RunCapped("rebalance", p), WallSeconds: 0.0)).ToList();
        string json = Json(s => CompareWriter.WriteJson(s, scenario, runs, [.. runs.Select(r => PolicyOutcome.From(r.Result))]));
        AssertValid(Published("compare"), json, "compare.json");
        Assert.Equal(2, JsonNode.Parse(json)!["policies"]!.AsArray().Count);
    }

    [Fact]
    public void The_schema_refuses_a_key_it_does_not_know_and_a_missing_one()
    {
        var schema = Published("summary");
        var summary = JsonNode.Parse(Json(s => SummaryWriter.Write(s, RunCapped("churn").Summary)))!.AsObject();
        AssertValid(schema, summary.ToJsonString(), "The churn summary");
        var extra = summary.DeepClone().AsObject();
        extra["mechanisms"]!["balloon"]!["pages_reclaimed"] = 1;
        Assert.False(schema.Evaluate(System.Text.Json.JsonDocument.Parse(extra.ToJsonString()).RootElement).IsValid);
        var missing = summary.DeepClone().AsObject();
        missing["host"]!.AsObject().Remove("free_pages_end");
        Assert.False(schema.Evaluate(System.Text.Json.JsonDocument.Parse(missing.ToJsonString()).RootElement).IsValid);
    }
}
