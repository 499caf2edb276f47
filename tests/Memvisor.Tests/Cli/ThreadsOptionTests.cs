using System.CommandLine;
using Memvisor.Cli.Commands;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Cli;

/// <summary>--threads takes 1 to 256; anything else is refused with exit 2, a sentence, and nothing written.</summary>
[Collection(ConsoleCapture.Collection)]
public class ThreadsOptionTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    [InlineData(257)]
    public void Run_and_fit_refuse_a_thread_count_outside_1_to_256(int threads)
    {
        string outDir = Path.Combine(Path.GetTempPath(), $"mv-threads-{Guid.NewGuid():N}");
        var (code, _, err) = ConsoleCapture.Run(() => RunCommand.Run("default", null, outDir, quiet: true, threads: threads));
        Assert.Equal(2, code);
        Assert.Contains($"--threads: {threads} is not a number of threads", err);
        Assert.False(Directory.Exists(outDir));
        var (fit, _, fitErr) = ConsoleCapture.Run(() => FitCommand.Run("default", "web", null, "1%", 4, null, threads: threads));
        Assert.Equal(2, fit);
        Assert.Contains("--threads", fitErr);
    }

    [Theory]
    [InlineData("x")]
    [InlineData("1.5")]
    [InlineData("99999999999")]
    public void A_thread_count_that_is_not_a_whole_number_is_a_parse_error_that_says_so(string text)
    {
        var threads = ThreadsOption.Create();
        var parsed = new RootCommand { threads }.Parse(["--threads", text]);
        Assert.Contains(parsed.Errors, e => e.Message == $"--threads: '{text}' is not a whole number of threads; give 1 to 256.");
        Assert.Equal(8, new RootCommand { threads }.Parse(["--threads", "8"]).GetValue(threads));
    }

    [Fact]
    public void Compare_refuses_a_thread_count_outside_1_to_256()
    {
        string outDir = Path.Combine(Path.GetTempPath(), $"mv-threads-{Guid.NewGuid():N}");
        var (code, _, err) = ConsoleCapture.Run(() => CompareCommand.Run("default", "static", null, outDir, 1, quiet: true, threads: 0));
        Assert.Equal(2, code);
        Assert.Contains("--threads: 0 is not a number of threads", err);
        Assert.False(Directory.Exists(outDir));
    }
}
