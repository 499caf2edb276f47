using Memvisor.Cli;
using Memvisor.Cli.Commands;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Cli;

/// <summary>memvisor fit reports the count the density search finds, and each count it tried.</summary>
[Collection(ConsoleCapture.Collection)]
public sealed class FitCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-fit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Fit_prints_the_count_the_search_finds()
    {
        // 64 MiB static guests on a 512 MiB host: a handful fit, and the search stops well below the cap.
        string path = TinyScenario.Write(_dir, y => y.Replace("{ name: a, memory: 64MiB,", "{ name: a, memory: 64MiB, allocation: static,"));
        var (best, trials) = DensitySearch.Run(ScenarioLoader.LoadFile(path), "a", "static", new ServiceLevel(0.01), 16, null);
        var (code, styled, err) = ConsoleCapture.Run(() => FitCommand.Run(path, "a", "static", "1%", 16, null));
        string stdout = System.Text.RegularExpressions.Regex.Replace(styled, @"\x1b\[[0-9;]*m", "");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal("", err);
        Assert.Contains($"At most {best} × a meet the service level under static.", stdout);
        foreach (var t in trials) Assert.Contains($"trying {t.Count}...", stdout);
    }
}
