using System.Text.RegularExpressions;

namespace Memvisor.Cli.Slurm;

/// <summary>
/// How a sweep's job array is asked of Slurm: partition, time limit and memory per task (sbatch's --partition, --time,
/// --mem, as Slurm writes them), the most tasks running at once (the array's %K), how often squeue is asked, and the
/// command that runs memvisor on the nodes.
/// </summary>
public sealed partial record SlurmOptions
{
    public string? Partition { get; init; }
    public string? Time { get; init; }
    public string? Memory { get; init; }
    public int? MaxRunning { get; init; }
    public TimeSpan Poll { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>The shell command that starts memvisor on a node (the same program as this one unless given).</summary>
    public required string Memvisor { get; init; }

    /// <summary>A sentence saying which option is wrong and how, or null when every one is what sbatch takes.</summary>
    public string? Problem()
    {
        if (Partition is { } p && !PartitionName().IsMatch(p))
            return $"--partition: '{Errors.Printable(p)}' is not a partition name (letters, digits, '_', '-' and '.').";
        if (Time is { } t && !TimeLimit().IsMatch(t))
            return $"--time: '{Errors.Printable(t)}' is not a Slurm time limit (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS).";
        if (Memory is { } m && !MemorySize().IsMatch(m))
            return $"--mem: '{Errors.Printable(m)}' is not a Slurm memory size (a whole number with K, M, G or T; M if none).";
        if (MaxRunning is < 1)
            return $"--max-running: {MaxRunning} is not a number of tasks at once; give 1 or more.";
        if (Poll < TimeSpan.FromMilliseconds(100) || Poll > TimeSpan.FromMinutes(10))
            return "--poll: give an interval from 100ms to 10m.";
        if (Memvisor.Trim().Length == 0 || Memvisor.IndexOfAny(['\n', '\r', '\0']) >= 0)
            return "--memvisor: give the command that runs memvisor on the nodes, on one line.";
        return null;
    }

    [GeneratedRegex(@"^[A-Za-z0-9_.\-]{1,64}$")]
    private static partial Regex PartitionName();

    [GeneratedRegex(@"^(\d{1,6}|\d{1,6}:\d{2}|\d{1,6}:\d{2}:\d{2}|\d{1,4}-\d{1,2}(:\d{2}(:\d{2})?)?)$")]
    private static partial Regex TimeLimit();

    [GeneratedRegex(@"^\d{1,9}[KMGT]?$")]
    private static partial Regex MemorySize();

    /// <summary>The command that runs this very memvisor: its apphost, or the dotnet host with its assembly.</summary>
    public static string ThisMemvisor()
    {
        string process = Environment.ProcessPath ?? "dotnet";
        string assembly = typeof(SlurmOptions).Assembly.Location;
        return Path.GetFileNameWithoutExtension(process) == "dotnet" ? $"{Shell.Quote(process)} {Shell.Quote(assembly)}" : Shell.Quote(process);
    }
}
