using System.Diagnostics;
using Memvisor.Cli;
using Memvisor.Report.Output;

namespace Memvisor.Tests.Cli;

/// <summary>
/// The real program in its own process: one signal leaves nothing behind (a second ends it at once, as the signal
/// would), a killed run's leftovers are cleaned by the next, and no input, however hostile, ends in a stack trace.
/// </summary>
public class ProcessTests : IDisposable
{
    // Pages from the start (its paging target is half its memory) and runs for minutes unless stopped.
    private const string Long = """
        name: long
        seed: 1
        duration: 30min
        host: { memory: 512MiB, dom0: { memory: 128MiB }, paging: { rate: 50000/s } }
        domains:
          - name: a
            memory: 96MiB
            paging: { target: 48MiB }
            workload: { kind: steady, working_set: 80MiB, rate: 20000/s }
        """;

    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-process-").FullName;
    private readonly string _tmp;
    // Environment variables the next processes start with, beyond TMPDIR.
    private readonly Dictionary<string, string> _environment = [];

    public ProcessTests() => _tmp = Directory.CreateDirectory(Path.Combine(_dir, "tmp")).FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Process Start(params string[] args)
    {
        // Through env(1) with every signal at its default: a test run started in the background of a shell inherits
        // SIGINT ignored, which the runtime (rightly) keeps ignored, and the interrupt tests would wait in vain.
        var info = new ProcessStartInfo("env") { RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = _dir };
        info.ArgumentList.Add("--default-signal");
        info.ArgumentList.Add("dotnet");
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "memvisor.dll"));
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["TMPDIR"] = _tmp;
        // No debugger pipes in TMPDIR: the tests look at what Memvisor leaves there.
        info.Environment["DOTNET_EnableDiagnostics"] = "0";
        foreach (var (name, value) in _environment) info.Environment[name] = value;
        return Process.Start(info)!;
    }

    private (int Code, string Err) Run(params string[] args)
    {
        using var p = Start(args);
        var stderr = p.StandardError.ReadToEndAsync();
        _ = p.StandardOutput.ReadToEndAsync();
        Assert.True(p.WaitForExit(120_000), $"memvisor {string.Join(' ', args)} did not finish");
        return (p.ExitCode, stderr.Result);
    }

    // Waits until the run is writing: its staging directory and its temporary swap file both exist.
    private void AwaitStagingAndSwap(Process p, string output)
    {
        var wall = Stopwatch.StartNew();
        while (wall.Elapsed < TimeSpan.FromSeconds(90))
        {
            Assert.False(p.HasExited, "the run ended before it could be interrupted");
            if (Directory.Exists(output) && Directory.GetDirectories(output, OutputDirectory.StagingPrefix + "*").Length > 0
                && Directory.GetFiles(_tmp, "memvisor-*.swap").Length > 0)
                return;
            Thread.Sleep(100);
        }
        Assert.Fail("the run never started paging");
    }

    [Theory]
    [InlineData("INT", 130)]
    [InlineData("TERM", 143)]
    public async Task A_signal_stops_a_run_and_removes_its_staging_directory_and_temporary_swap_file(string signal, int exit)
    {
        File.WriteAllText(Path.Combine(_dir, "long.yaml"), Long);
        string output = Path.Combine(_dir, "out");
        using var p = Start("run", "long.yaml", "--out", output, "--quiet");
        var stderr = p.StandardError.ReadToEndAsync();
        AwaitStagingAndSwap(p, output);

        Process.Start("kill", $"-{signal} {p.Id}")!.WaitForExit();

        Assert.True(p.WaitForExit(60_000), "the run did not stop");
        Assert.Equal(exit, p.ExitCode);
        string err = await stderr;
        Assert.Contains("interrupted", err);
        Assert.DoesNotContain("   at ", err);
        Assert.False(Directory.Exists(output));
        Assert.Empty(Directory.GetFiles(_tmp, "memvisor-*"));
    }

    [Fact]
    public async Task A_run_stuck_in_one_long_step_still_stops_soon_after_a_signal_and_cleans_up()
    {
        // One guest tick of ten simulated seconds at 10^8 accesses a second: minutes of wall time in a single step.
        File.WriteAllText(Path.Combine(_dir, "slow.yaml"), """
            name: slow
            duration: 20s
            sim: { tick: 10s }
            host: { memory: 512MiB, dom0: { memory: 128MiB } }
            domains:
              - { name: a, memory: 64MiB, workload: { kind: steady, working_set: 32MiB, rate: 100000000/s } }
            """);
        string output = Path.Combine(_dir, "out");
        using var p = Start("run", "slow.yaml", "--out", output, "--quiet");
        var stderr = p.StandardError.ReadToEndAsync();
        var wall = Stopwatch.StartNew();
        while (!(Directory.Exists(output) && Directory.GetDirectories(output, OutputDirectory.StagingPrefix + "*").Length > 0))
        {
            Assert.True(wall.Elapsed < TimeSpan.FromSeconds(60) && !p.HasExited, "the run never started");
            Thread.Sleep(100);
        }
        Thread.Sleep(1000);

        var signalled = Stopwatch.StartNew();
        Process.Start("kill", $"-INT {p.Id}")!.WaitForExit();

        Assert.True(p.WaitForExit(30_000), "the run did not stop after its grace period");
        // It stopped by the deadline, not between steps: the step it was in would have run for minutes.
        Assert.InRange(signalled.Elapsed.TotalSeconds, 4.5, 30);
        Assert.Equal(130, p.ExitCode);
        Assert.Contains("interrupted", await stderr);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void What_a_killed_run_left_is_removed_by_the_next_run()
    {
        File.WriteAllText(Path.Combine(_dir, "long.yaml"), Long);
        File.WriteAllText(Path.Combine(_dir, "short.yaml"), Long.Replace("duration: 30min", "duration: 2s"));
        string output = Path.Combine(_dir, "out");
        using (var p = Start("run", "long.yaml", "--out", output, "--quiet"))
        {
            AwaitStagingAndSwap(p, output);
            p.Kill();
            p.WaitForExit();
        }
        Assert.NotEmpty(Directory.GetFiles(_tmp, "memvisor-*.swap"));

        var (code, err) = Run("run", "short.yaml", "--out", output, "--quiet");

        Assert.True(code == ExitCodes.Ok, err);
        Assert.Empty(Directory.GetFiles(_tmp, "memvisor-*"));
        Assert.Empty(Directory.GetDirectories(output));
        Assert.True(File.Exists(Path.Combine(output, "summary.json")));
    }

    [Fact]
    public void A_summary_is_the_same_bytes_when_the_temporary_swap_file_cannot_be_made()
    {
        File.WriteAllText(Path.Combine(_dir, "short.yaml"), Long.Replace("duration: 30min", "duration: 2s"));
        Directory.Delete(_tmp);  // TMPDIR names a directory that does not exist: every swap file fails
        var (first, err1) = Run("run", "short.yaml", "--out", "one", "--quiet");
        var (second, err2) = Run("run", "short.yaml", "--out", "two", "--quiet");
        Directory.CreateDirectory(_tmp);

        Assert.True(first == ExitCodes.Ok && second == ExitCodes.Ok, err1 + err2);
        var one = File.ReadAllBytes(Path.Combine(_dir, "one", "summary.json"));
        Assert.Contains("The temporary swap file could not be created", System.Text.Encoding.UTF8.GetString(one));
        Assert.Equal(one, File.ReadAllBytes(Path.Combine(_dir, "two", "summary.json")));
    }

    [Fact]
    public void A_run_whose_dotnet_file_locks_are_switched_off_still_sees_that_another_run_is_writing()
    {
        File.WriteAllText(Path.Combine(_dir, "short.yaml"), Long.Replace("duration: 30min", "duration: 2s"));
        string output = Directory.CreateDirectory(Path.Combine(_dir, "out")).FullName;
        // A live run's staging directory (this process holds its marker's lock), as two containers' pid 1 would name it.
        string staging = Directory.CreateDirectory(Path.Combine(output, $"{OutputDirectory.StagingPrefix}1-{Guid.NewGuid():N}")).FullName;
        using var marker = StagingLock.Create(Path.Combine(staging, OutputDirectory.StagingMarker), "1\n"u8);
        _environment["DOTNET_SYSTEM_IO_DISABLEFILELOCKING"] = "1";

        var (code, err) = Run("run", "short.yaml", "--out", output, "--quiet");

        Assert.True(code == ExitCodes.BadInput, err);
        Assert.Contains("being written by another Memvisor run", err);
        Assert.True(File.Exists(Path.Combine(staging, OutputDirectory.StagingMarker)), "the live run's marker is still there");
    }

    public static TheoryData<string, string[], int> Hostile => new()
    {
        { "nesting that overflowed the parser's stack", ["run", "deep.yaml"], ExitCodes.BadInput },
        { "a device as the scenario", ["validate", "/dev/zero"], ExitCodes.BadInput },
        { "a directory as the snapshot", ["decide", "--policy", "mom", "."], ExitCodes.BadInput },
        { "a device as the output directory", ["run", "--out", "/dev/null", "--quiet"], ExitCodes.BadInput },
        { "an output under a file", ["run", "--out", "deep.yaml/out", "--quiet"], ExitCodes.Failure },
        { "no jobs at once", ["compare", "default", "--jobs", "0"], ExitCodes.BadInput },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void Hostile_input_ends_with_a_sentence_and_an_exit_code_never_a_stack_trace(string why, string[] args, int exit)
    {
        File.WriteAllText(Path.Combine(_dir, "deep.yaml"), "name: deep\ncosts: " + new string('[', 200_000) + new string(']', 200_000));
        var (code, err) = Run(args);
        Assert.True(code == exit, $"{why}: exit {code}: {err}");
        Assert.DoesNotContain("   at ", err);
        Assert.DoesNotContain("Unhandled", err);
        Assert.DoesNotContain("Stack overflow", err);
        Assert.StartsWith("memvisor: ", err);
    }
}
