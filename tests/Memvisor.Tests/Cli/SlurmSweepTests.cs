using System.Diagnostics;
using Memvisor.Cli;
using Memvisor.Cli.Commands;
using Memvisor.Cli.Slurm;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Cli;

/// <summary>
/// sweep --executor slurm on a real one-node Slurm (scripts/slurm-up installs and starts it; it needs root): the job
/// array's points merge into the same bytes as a sweep on this machine, a re-run submits only the missing points, and
/// tasks that fail are listed with their job ids and logs. If Slurm cannot be brought up here the test fails and says
/// why; it is never skipped.
/// </summary>
[Collection(ConsoleCapture.Collection)]
public sealed class SlurmSweepTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-slurm-").FullName;

    public void Dispose()
    {
        Script("slurm-down", TimeSpan.FromMinutes(1));
        Directory.Delete(_dir, recursive: true);
    }

    private static string Repository()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "scripts", "slurm-up"))) return d.FullName;
        throw new InvalidOperationException("The tests run outside the repository: scripts/slurm-up was not found above " + AppContext.BaseDirectory);
    }

    private static (int Code, string Output) Script(string name, TimeSpan timeout)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true };
        info.ArgumentList.Add(Path.Combine(Repository(), "scripts", name));
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            return (-1, $"scripts/{name} did not finish within {timeout}.");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    private static string Quote(string word) => "'" + word.Replace("'", "'\\''") + "'";

    private static SlurmOptions Options(string? memvisor = null) => new()
    {
        Memvisor = memvisor ?? $"dotnet {Quote(Path.Combine(AppContext.BaseDirectory, "memvisor.dll"))}",
        MaxRunning = 2,
        Poll = TimeSpan.FromMilliseconds(300),
    };

    [Fact]
    public void A_job_array_merges_the_same_bytes_as_this_machine_resubmits_only_missing_points_and_lists_failed_tasks()
    {
        var (up, said) = Script("slurm-up", TimeSpan.FromMinutes(10));
        Assert.True(up == 0, $"A one-node Slurm could not be brought up on this machine (scripts/slurm-up exit {up}), so the slurm executor was not tested:\n{said}");

        TinyScenario.Write(_dir);
        string sweep = Path.Combine(_dir, "s.yaml");
        File.WriteAllText(sweep, "name: s\nscenario: tiny.yaml\naxes:\n  host.memory: [512MiB, 768MiB]\n  seed: [1, 2, 2]\n");
        string local = Path.Combine(_dir, "local"), slurm = Path.Combine(_dir, "slurm");
        var (code, _, err) = ConsoleCapture.Run(() => SweepCommand.Run(sweep, local, jobs: 2, quiet: true));
        Assert.True(code == ExitCodes.Ok, err);
        (code, _, err) = ConsoleCapture.Run(() => SweepCommand.Run(sweep, slurm, jobs: 2, quiet: true, slurm: Options()));
        Assert.True(code == ExitCodes.Ok, err);
        foreach (var file in new[] { "sweep.csv", "sweep.json", "report.html" })
            Assert.True(File.ReadAllBytes(Path.Combine(local, "results", file)).SequenceEqual(File.ReadAllBytes(Path.Combine(slurm, "results", file))), $"{file} differs between the executors");
        // Six points, two of them the same as the one before: four tasks, two at a time, each with its log.
        string script = File.ReadAllText(Path.Combine(slurm, "slurm", "sweep.sbatch"));
        Assert.Contains("#SBATCH --array=0,1,3,4%2\n", script);
        Assert.Equal(4, Directory.GetFiles(Path.Combine(slurm, "slurm", "logs")).Length);

        // A point lost: the re-run submits only it.
        var lost = Directory.GetDirectories(Path.Combine(slurm, "points")).Order(StringComparer.Ordinal).First();
        Directory.Delete(lost, recursive: true);
        (code, _, err) = ConsoleCapture.Run(() => SweepCommand.Run(sweep, slurm, jobs: 2, quiet: true, slurm: Options()));
        Assert.True(code == ExitCodes.Ok, err);
        Assert.Matches(@"#SBATCH --array=\d%2\n", File.ReadAllText(Path.Combine(slurm, "slurm", "sweep.sbatch")));
        Assert.True(File.ReadAllBytes(Path.Combine(local, "results", "sweep.csv")).SequenceEqual(File.ReadAllBytes(Path.Combine(slurm, "results", "sweep.csv"))));

        // Tasks whose program fails: listed with their task ids, states and logs, exit 1, no merged results.
        string failing = Path.Combine(_dir, "failing");
        (code, _, err) = ConsoleCapture.Run(() => SweepCommand.Run(sweep, failing, jobs: 2, quiet: true, slurm: Options("/bin/false")));
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("4 of 4 point(s) of job array", err);
        Assert.Equal(4, err.Split('\n').Count(l => l.Contains("FAILED") && l.Contains("/slurm/logs/")));
        Assert.False(Directory.Exists(Path.Combine(failing, "results")));
    }
}
