using System.ComponentModel;
using System.Diagnostics;

namespace Memvisor.Cli.Slurm;

/// <summary>Runs Slurm's client commands (sbatch, squeue, sacct, scancel) and quotes words for the batch script.</summary>
internal static class Shell
{
    /// <summary>A program's exit code and what it printed; null when it could not be started (not on PATH).</summary>
    public sealed record Result(int ExitCode, string Out, string Err);

    public static Result? Run(string program, IReadOnlyList<string> args, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (Win32Exception)
        {
            return null;
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                return new Result(-1, "", $"{program} did not answer within {timeout.TotalSeconds:0} s.");
            }
            return new Result(process.ExitCode, stdout.Result, stderr.Result);
        }
    }

    /// <summary>A word for bash: single-quoted, its single quotes written as '\''.</summary>
    public static string Quote(string word) => "'" + word.Replace("'", "'\\''") + "'";
}
