namespace Memvisor.Tests.Support;

/// <summary>A scenario that runs in well under a second, written into a test's directory.</summary>
internal static class TinyScenario
{
    public const string Yaml = """
        name: tiny
        seed: 3
        duration: 2s
        host: { memory: 512MiB, dom0: { memory: 128MiB } }
        domains:
          - { name: a, memory: 64MiB, workload: { kind: steady, working_set: 16MiB, rate: 1000/s } }
        """;

    /// <summary>Writes the scenario (with <paramref name="edit"/> applied) to DIR/NAME and returns its path.</summary>
    public static string Write(string directory, Func<string, string>? edit = null, string name = "tiny.yaml")
    {
        string path = Path.Combine(directory, name);
        File.WriteAllText(path, edit is null ? Yaml : edit(Yaml));
        return path;
    }

    /// <summary>Every file under <paramref name="directory"/> with its bytes, to show that nothing there changed.</summary>
    public static Dictionary<string, byte[]> Snapshot(string directory) =>
        Directory.EnumerateFiles(directory, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .ToDictionary(f => Path.GetRelativePath(directory, f), File.ReadAllBytes);

    public static void AssertUnchanged(Dictionary<string, byte[]> before, string directory)
    {
        var after = Snapshot(directory);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (file, bytes) in before) Assert.Equal(bytes, after[file]);
    }
}
