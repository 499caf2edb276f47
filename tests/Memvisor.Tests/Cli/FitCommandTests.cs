using Memvisor.Cli;
using Memvisor.Cli.Commands;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;
using Memvisor.Tests.Support;
using Spectre.Console;

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
        // fit writes through Spectre.Console, which keeps the writer it was made with: give it one for this run.
        var written = new StringWriter();
        var console = AnsiConsole.Console;
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Out = new AnsiConsoleOutput(written),
        });
        int code;
        string err;
        try
        {
            (code, _, err) = ConsoleCapture.Run(() => FitCommand.Run(path, "a", "static", "1%", 16, null));
        }
        finally
        {
            AnsiConsole.Console = console;
        }
        string stdout = written.ToString();
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal("", err);
        Assert.Contains($"At most {best} × a meet the service level under static.", stdout);
        foreach (var t in trials) Assert.Contains($"trying {t.Count}...", stdout);
    }

    [Theory]
    [InlineData("soon", "is not a duration above 0")]
    [InlineData("0s", "is not a duration above 0")]
    [InlineData("1s", "would not all be created within the scenario's 2s")]
    public void A_create_interval_that_cannot_be_used_is_refused(string every, string expected)
    {
        string path = TinyScenario.Write(_dir);
        var (code, stdout, err) = ConsoleCapture.Run(() => FitCommand.Run(path, "a", "static", "1%", 4, null, every));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("--create-every", err);
        Assert.Contains(expected, err);
        Assert.Empty(stdout);
    }
}

