namespace Memvisor.Sim.Scenarios;

/// <summary>The scenarios shipped inside the program; <c>default</c> is what <c>memvisor run</c> runs with no file.</summary>
public static class BuiltinScenarios
{
    public const string DefaultName = "default";

    public static IReadOnlyList<string> Names { get; } =
        typeof(BuiltinScenarios).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith("builtin/", StringComparison.Ordinal))
            .Select(n => Path.GetFileNameWithoutExtension(n["builtin/".Length..]))
            .Order(StringComparer.Ordinal)
            .ToList();

    public static bool Exists(string name) => Names.Contains(name);

    public static string Text(string name)
    {
        using var stream = typeof(BuiltinScenarios).Assembly.GetManifestResourceStream($"builtin/{name}.yaml")
            ?? throw new ArgumentException($"There is no built-in scenario '{name}'; the built-in scenarios are {string.Join(", ", Names)}.", nameof(name));
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public static Scenario Load(string name) => ScenarioLoader.Parse(Text(name), $"builtin:{name}");

    /// <summary>The first comment line of a built-in scenario, used as its description.</summary>
    public static string Description(string name) =>
        Text(name).Split('\n').FirstOrDefault(l => l.StartsWith('#'))?.TrimStart('#', ' ').Trim() ?? "";
}
