using System.Globalization;
using System.Text;

namespace Memvisor.Cli.Slurm;

/// <summary>
/// One job array on Slurm running some points of a sweep: its batch script (each task runs
/// <c>memvisor sweep point SWEEP --index $SLURM_ARRAY_TASK_ID --out DIR</c>), submitted with sbatch, followed with
/// squeue until no task is left, and what became of each task (sacct where the cluster keeps accounting, else
/// scontrol while it still remembers the job).
/// </summary>
internal sealed class SlurmJob
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    private SlurmJob(string id, string logs)
    {
        Id = id;
        Logs = logs;
    }

    /// <summary>The array's job id, as sbatch --parsable gave it.</summary>
    public string Id { get; }
    public string Logs { get; }

    /// <summary>The log of task <paramref name="index"/>.</summary>
    public string LogOf(long index) => Path.Combine(Logs, $"{Id}_{index}.out");

    public const string ScriptName = "sweep.sbatch";
    private const string Marker = "# Written by memvisor sweep --executor slurm: each task runs one point of the sweep.";

    /// <summary>Whether <paramref name="path"/> is a batch script this executor wrote (its second line says so).</summary>
    public static bool IsOurScript(string path)
    {
        try
        {
            using var reader = new StreamReader(path);
            return reader.ReadLine() == "#!/bin/bash" && reader.ReadLine() == Marker;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Whether <paramref name="name"/> is a task log's name (JOB_TASK.out, as sbatch --output=%A_%a.out names them).</summary>
    public static bool IsLogName(string name) =>
        name.EndsWith(".out", StringComparison.Ordinal) && name[..^4].Split('_') is [var job, var task] && job.Length > 0 && task.Length > 0 && job.All(char.IsAsciiDigit) && task.All(char.IsAsciiDigit);

    /// <summary>The batch script for <paramref name="indices"/> of the sweep in <paramref name="sweepFile"/>, the sweep's directory being <paramref name="root"/> (all paths absolute: the nodes must see them at the same place).</summary>
    public static string Script(string name, string sweepFile, string root, IReadOnlyList<long> indices, SlurmOptions options)
    {
        var s = new StringBuilder();
        s.Append("#!/bin/bash\n");
        s.Append(Marker).Append('\n');
        s.Append(CultureInfo.InvariantCulture, $"#SBATCH --job-name=memvisor-{Safe(name)}\n");
        s.Append(CultureInfo.InvariantCulture, $"#SBATCH --array={string.Join(',', indices)}{(options.MaxRunning is int k ? $"%{k}" : "")}\n");
        if (options.Partition is { } p) s.Append(CultureInfo.InvariantCulture, $"#SBATCH --partition={p}\n");
        if (options.Time is { } t) s.Append(CultureInfo.InvariantCulture, $"#SBATCH --time={t}\n");
        if (options.Memory is { } m) s.Append(CultureInfo.InvariantCulture, $"#SBATCH --mem={m}\n");
        s.Append(CultureInfo.InvariantCulture, $"exec {options.Memvisor} sweep point {Shell.Quote(sweepFile)} --index \"$SLURM_ARRAY_TASK_ID\" --out {Shell.Quote(root)}\n");
        return s.ToString();
    }

    // A job name of the sweep's name: Slurm takes most characters, but #SBATCH lines end at a space.
    private static string Safe(string name) => new([.. name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_')]);

    /// <summary>Submits <paramref name="script"/>; the job, or a sentence saying why it could not be.</summary>
    public static SlurmJob? Submit(string script, string logs, out string? error)
    {
        Directory.CreateDirectory(logs);
        // The log path as an argument, not an #SBATCH line (which ends at a space); sbatch's own '%' doubled.
        var r = Shell.Run("sbatch", ["--parsable", $"--output={logs.TrimEnd('/').Replace("%", "%%")}/%A_%a.out", script], CommandTimeout);
        error = r is null ? "sbatch was not found: the slurm executor needs Slurm's client commands (sbatch, squeue) on PATH. On this kind of machine scripts/slurm-up brings up a one-node Slurm."
            : r.ExitCode != 0 ? $"sbatch refused the job array ({Errors.Printable(r.Err.Trim())})."
            : null;
        if (error is not null) return null;
        // --parsable prints "jobid" or "jobid;cluster".
        string id = r!.Out.Trim().Split(';')[0];
        if (id.Length == 0 || !id.All(char.IsAsciiDigit))
        {
            error = $"sbatch gave no job id ({Errors.Printable(r.Out.Trim())}).";
            return null;
        }
        return new SlurmJob(id, logs);
    }

    /// <summary>Tasks still pending or running (squeue), or null with <paramref name="error"/> when squeue cannot say.</summary>
    public int? Remaining(out string? error)
    {
        var r = Shell.Run("squeue", ["-h", "-r", "-j", Id, "-o", "%i"], CommandTimeout);
        error = null;
        if (r is null)
        {
            error = "squeue was not found on PATH.";
            return null;
        }
        // A job Slurm has forgotten is done.
        if (r.ExitCode != 0) return r.Err.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase) ? 0 : Fail(r, out error);
        return r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
    }

    private static int? Fail(Shell.Result r, out string? error)
    {
        error = $"squeue failed ({Errors.Printable(r.Err.Trim())}).";
        return null;
    }

    /// <summary>scancel of the whole array.</summary>
    public void Cancel() => Shell.Run("scancel", [Id], CommandTimeout);

    /// <summary>Each finished task's state and exit code by its index, from sacct or, without accounting, scontrol; empty when neither knows.</summary>
    public IReadOnlyDictionary<long, string> States()
    {
        var states = new Dictionary<long, string>();
        var acct = Shell.Run("sacct", ["-n", "-P", "-X", "-j", Id, "-o", "JobID,State,ExitCode"], CommandTimeout);
        if (acct is { ExitCode: 0 })
            foreach (var line in acct.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var f = line.Split('|');
                if (f.Length >= 3 && f[0].Split('_') is [_, var task] && long.TryParse(task, NumberStyles.None, CultureInfo.InvariantCulture, out long i))
                    states[i] = $"{f[1]}, exit {f[2]}";
            }
        if (states.Count > 0) return states;
        var show = Shell.Run("scontrol", ["-o", "show", "job", Id], CommandTimeout);
        if (show is not { ExitCode: 0 }) return states;
        foreach (var line in show.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(w => w.Split('=', 2)).Where(kv => kv.Length == 2).GroupBy(kv => kv[0]).ToDictionary(g => g.Key, g => g.First()[1]);
            if (fields.TryGetValue("ArrayTaskId", out var task) && long.TryParse(task, NumberStyles.None, CultureInfo.InvariantCulture, out long i))
                states[i] = $"{fields.GetValueOrDefault("JobState", "?")}, exit {fields.GetValueOrDefault("ExitCode", "?")}";
        }
        return states;
    }
}
