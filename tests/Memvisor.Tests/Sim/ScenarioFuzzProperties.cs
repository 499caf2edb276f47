using FsCheck;
using FsCheck.Fluent;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Sim;

/// <summary>
/// The built-in scenarios, mutated as a careless or hostile user would (lines deleted and duplicated, values retyped,
/// sizes and rates made random, unknown keys added): the loader either accepts the result or refuses it with every
/// problem located at a file, line and field, and never fails any other way; what it accepts runs.
/// </summary>
public class ScenarioFuzzProperties
{
    private enum Edit { Delete, Duplicate, Retype, Resize, AddKey }

    private sealed record Mutation(Edit Edit, int Line, int Pick)
    {
        public override string ToString() => $"{Edit}(line {Line}, pick {Pick})";
    }

    // Values a user might type anywhere: wrong types, overflows, ambiguous units, YAML's own oddities.
    private static readonly string[] Values =
    [
        "", "-1", "0", "1e400", "abc", "[1, 2]", "{a: 1}", "99999999999999999999TiB", "1KiB", "256MB", "null", "~", "'x'", "true",
        "18446744073709551616", "0.0000001s", "NaN", ".inf", "1/0s", "100000000000000000000/s", "3000000h", "&a x", "*a", "!!binary AA==",
        "\"\\u0000\"", "- x", "16TiB", "1000/2s", "4096", "-0.5", "1.5GiB", "1e3", "0x10",
    ];

    private static readonly string[] Units = ["KiB", "MiB", "GiB", "TiB", "", "MB", "k", "/s", "ms", "h"];

    private static readonly Gen<Mutation> MutationGen =
        from edit in Gen.Elements(Edit.Delete, Edit.Duplicate, Edit.Retype, Edit.Retype, Edit.Resize, Edit.AddKey)
        from line in Gen.Choose(0, 200)
        from pick in Gen.Choose(0, 1_000_000)
        select new Mutation(edit, line, pick);

    private static readonly Gen<(string Name, Mutation[] Mutations)> ScenarioGen =
        from name in Gen.Elements(BuiltinScenarios.Names.ToArray())
        from n in Gen.Choose(1, 4)
        from mutations in Gen.ArrayOf(MutationGen, n)
        select (name, mutations);

    private static string Mutate(string yaml, IEnumerable<Mutation> mutations)
    {
        var lines = yaml.Split('\n').ToList();
        foreach (var m in mutations)
        {
            int i = m.Line % lines.Count;
            string line = lines[i];
            int colon = line.IndexOf(": ", StringComparison.Ordinal);
            switch (m.Edit)
            {
                case Edit.Delete:
                    lines.RemoveAt(i);
                    if (lines.Count == 0) lines.Add("");
                    break;
                case Edit.Duplicate:
                    lines.Insert(i, line);
                    break;
                case Edit.Retype when colon >= 0:
                    lines[i] = line[..(colon + 2)] + Values[m.Pick % Values.Length];
                    break;
                case Edit.Resize when colon >= 0:
                    long number = (m.Pick % 7) switch { 0 => 0, 1 => 1, 2 => m.Pick, 3 => long.MaxValue / (m.Pick + 1), _ => m.Pick % 5000 };
                    lines[i] = line[..(colon + 2)] + number + Units[m.Pick % Units.Length];
                    break;
                case Edit.AddKey:
                    int indent = line.Length - line.TrimStart().Length;
                    lines.Insert(i, new string(' ', indent) + (m.Pick % 2 == 0 ? "bogus: 1" : "name: twice"));
                    break;
            }
        }
        return string.Join('\n', lines);
    }

    [Fact]
    public void A_mutated_scenario_is_accepted_or_refused_at_located_fields_never_anything_else()
    {
        Properties.Check(ScenarioGen, t =>
        {
            string yaml = Mutate(BuiltinScenarios.Text(t.Name), t.Mutations);
            try
            {
                ScenarioLoader.Parse(yaml, "fuzz.yaml");
            }
            catch (ScenarioException e)
            {
                Assert.NotEmpty(e.Errors);
                foreach (var error in e.Errors)
                {
                    Assert.Equal("fuzz.yaml", error.File);
                    Assert.InRange(error.Line, 1, yaml.Count(c => c == '\n') + 2);
                    Assert.False(string.IsNullOrWhiteSpace(error.Field), error.ToString());
                    Assert.False(string.IsNullOrWhiteSpace(error.Message), error.ToString());
                }
            }
        }, maxTest: 400);
    }

    // The built-ins with hosts of at most 4 GiB, one mutation each, kept only where the loader accepts the result and the
    // host stays small: each case then runs (about a second), so the property never passes on refusals alone. CI once
    // drew 40 cases of which only 4 were accepted, when it counted accepted cases after the fact.
    private static readonly Gen<(string Name, Mutation[] Mutations)> SmallScenarioGen =
        (from name in Gen.Elements("overcommit", "policy-lab", "rebalance", "video-ram")
         from mutation in MutationGen
         select (name, new[] { mutation })).Where(t => SmallEnough(Load(t)));

    private static Scenario? Load((string Name, Mutation[] Mutations) t)
    {
        try
        {
            return ScenarioLoader.Parse(Mutate(BuiltinScenarios.Text(t.Name), t.Mutations), "fuzz.yaml");
        }
        catch (ScenarioException)
        {
            return null;
        }
    }

    // Kept small for CI: a host of at most 4 GiB and a few guests.
    private static bool SmallEnough(Scenario? scenario) =>
        scenario is not null && scenario.Host.MemoryBytes <= 4L << 30 && scenario.Instances().Count() <= 8;

    [Fact]
    public void A_mutated_scenario_that_is_accepted_runs_to_its_end()
    {
        int ran = 0;
        Properties.Check(SmallScenarioGen, t =>
        {
            Scenario scenario = Load(t)!;
            var result = new Simulation(scenario with { DurationNs = Math.Min(scenario.DurationNs, 1_000_000_000), Events = [.. scenario.Events.Where(e => e.AtNs <= 1_000_000_000)] }).Run();
            Assert.True(result.AccountingHeld);
            Assert.Equal(0, result.IntegrityErrors);
            ran++;
        }, maxTest: 12);
        Assert.Equal(12, ran);
    }
}
