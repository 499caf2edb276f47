using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Memvisor.Report;
using Memvisor.Report.Output;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;
using Memvisor.Sim.Sweeps;
using Spectre.Console;

namespace Memvisor.Cli.Commands;

/// <summary>
/// <c>memvisor sweep SWEEP.yaml</c>: every point of a sweep (a base scenario and axes of values), run on this machine
/// N at a time, each into its own directory, then merged into sweep.csv and sweep.json; <c>sweep plan</c> lists the
/// points, <c>sweep point --index I</c> runs one (what a cluster's job array runs).
/// </summary>
public static partial class SweepCommand
{
    public static Command Build()
    {
        var sweep = new Argument<string>("sweep") { Description = "A sweep YAML file: name, scenario (a file beside it or a built-in), mode (cross or zip) and axes." };
        var output = new Option<string?>("--out") { Description = "The sweep's directory: points/ (one run directory a point, named by its content hash) and results/ (sweep.csv, sweep.json). Default: ./memvisor-out/<sweep name>-sweep/." };
        var jobs = new Option<int>("--jobs") { Description = "Points at once. Default: the machine's cores.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var quiet = new Option<bool>("--quiet") { Description = "No progress and no table; only errors." };
        var executor = new Option<string>("--executor") { Description = "Where the points run: local (this machine, --jobs at a time) or slurm (a job array submitted with sbatch, followed with squeue; the sweep's directory must be on a filesystem the nodes share).", DefaultValueFactory = _ => "local" };
        executor.AcceptOnlyFromAmong("local", "slurm");
        var partition = new Option<string?>("--partition") { Description = "slurm: the partition (sbatch --partition). Default: the cluster's." };
        var time = new Option<string?>("--time") { Description = "slurm: each task's time limit, as sbatch --time takes it (minutes, HH:MM:SS, D-HH:MM...). Default: the partition's." };
        var mem = new Option<string?>("--mem") { Description = "slurm: each task's memory, as sbatch --mem takes it (4G, 500M). Default: the partition's." };
        var maxRunning = new Option<string?>("--max-running") { Description = "slurm: the most tasks running at once (the array's %K). Default: as many as Slurm starts." };
        var poll = new Option<double>("--poll") { Description = "slurm: seconds between squeue calls while the array runs.", DefaultValueFactory = _ => 2 };
        var memvisor = new Option<string?>("--memvisor") { Description = "slurm: the shell command that runs memvisor on the nodes. Default: this memvisor, by its path here." };
        var command = new Command("sweep", "Run every point of a sweep, a scenario crossed with axes of values, on this machine or as a Slurm job array, and merge the points' figures into sweep.csv and sweep.json. Points already finished with the same content are kept.")
        {
            sweep, output, jobs, quiet, executor, partition, time, mem, maxRunning, poll, memvisor,
        };
        command.SetAction(p =>
        {
            bool slurm = p.GetValue(executor) == "slurm";
            var given = new Option[] { partition, time, mem, maxRunning, poll, memvisor }.Where(o => p.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
            if (!slurm && given.Count > 0)
            {
                Console.Error.WriteLine($"memvisor: {string.Join(", ", given)}: {(given.Count == 1 ? "this sets" : "these set")} how a Slurm job array is asked for; give --executor slurm too, or leave {(given.Count == 1 ? "it" : "them")} out. Nothing was run.");
                return ExitCodes.BadInput;
            }
            int? running = null;
            if (p.GetValue(maxRunning) is { } k)
            {
                if (!int.TryParse(k, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) || n < 1 || n > 100_000)
                {
                    Console.Error.WriteLine($"memvisor: --max-running: '{Errors.Printable(k)}' is not a number of tasks at once; give 1 to 100000. Nothing was run.");
                    return ExitCodes.BadInput;
                }
                running = n;
            }
            double pollSeconds = p.GetValue(poll);
            if (!double.IsFinite(pollSeconds))
            {
                Console.Error.WriteLine("memvisor: --poll: give an interval from 0.1 to 600 seconds. Nothing was run.");
                return ExitCodes.BadInput;
            }
            var options = slurm ? new Slurm.SlurmOptions
            {
                Partition = p.GetValue(partition), Time = p.GetValue(time), Memory = p.GetValue(mem), MaxRunning = running,
                Poll = TimeSpan.FromSeconds(Math.Clamp(pollSeconds, 0, 3600)), Memvisor = p.GetValue(memvisor) ?? Slurm.SlurmOptions.ThisMemvisor(),
            } : null;
            return Run(p.GetValue(sweep)!, p.GetValue(output), p.GetValue(jobs), p.GetValue(quiet), Interrupt.Token, options);
        });

        var planSweep = new Argument<string>("sweep") { Description = "A sweep YAML file." };
        var plan = new Command("plan", "Check a sweep and list its points: index, content hash and each axis's value.") { planSweep };
        plan.SetAction(p => Plan(p.GetValue(planSweep)!));
        command.Subcommands.Add(plan);

        var pointSweep = new Argument<string>("sweep") { Description = "A sweep YAML file." };
        var index = new Option<long>("--index") { Description = "The point to run (0 to points-1), as 'sweep plan' lists them; a job array passes its task id.", Required = true };
        var pointOut = new Option<string?>("--out") { Description = "The sweep's directory, as for 'sweep'. Default: ./memvisor-out/<sweep name>-sweep/." };
        var point = new Command("point", "Run one point of a sweep into the sweep's points/ directory (what each task of a cluster job array runs).") { pointSweep, index, pointOut };
        point.SetAction(p => RunPoint(p.GetValue(pointSweep)!, p.GetValue(index), p.GetValue(pointOut), Interrupt.Token));
        command.Subcommands.Add(point);
        return command;
    }

    private static bool TryLoad(string file, out SweepSpec spec)
    {
        try
        {
            spec = SweepLoader.LoadFile(file);
            return true;
        }
        catch (ScenarioException e)
        {
            PrintRefused(e);
            spec = null!;
            return false;
        }
    }

    private static void PrintRefused(ScenarioException e)
    {
        Console.Error.WriteLine($"memvisor: the sweep was refused ({e.Errors.Count} problem{(e.Errors.Count == 1 ? "" : "s")}); nothing was run.");
        foreach (var error in e.Errors.Take(50)) Console.Error.WriteLine(Errors.Printable(error.ToString()));
    }

    // Every point, checked before anything runs: a value that makes a scenario the loader refuses is an error of the sweep file.
    private static bool TryPlan(SweepSpec spec, out List<SweepPoint> points)
    {
        try
        {
            points = [.. SweepPlan.Points(spec)];
            return true;
        }
        catch (ScenarioException e)
        {
            PrintRefused(e);
            points = [];
            return false;
        }
    }

    public static int Plan(string file) => Guard.Run(() =>
    {
        if (!TryLoad(file, out var spec) || !TryPlan(spec, out var points)) return ExitCodes.BadInput;
        var table = new Table().AddColumns(["Index", "Hash", .. spec.Axes.Select(a => Markup.Escape(a.Key))]);
        foreach (var p in points)
            table.AddRow([p.Index.ToString(CultureInfo.InvariantCulture), p.Hash, .. p.Values.Select(v => Markup.Escape(Errors.Printable(v.Value)))]);
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"{points.Count} point(s) of [bold]{Markup.Escape(spec.Name)}[/] on {Markup.Escape(spec.Scenario)} ({(spec.Zip ? "zipped" : "crossed")}).");
        return ExitCodes.Ok;
    });

    private static string DirectoryOf(SweepSpec spec, string? outDir) => outDir ?? Path.Combine("memvisor-out", spec.Name + "-sweep");

    // A sweep's directory holds nothing but its points/ and results/ (each an output directory of its own, checked as such).
    private static bool RootIsOurs(string root)
    {
        if (root.Trim().Length == 0)
        {
            Console.Error.WriteLine("memvisor: --out: give the sweep's directory; an empty path would write into the current one.");
            return false;
        }
        if (File.Exists(root))
        {
            Console.Error.WriteLine($"memvisor: --out: {Errors.Printable(root)} is a file; a sweep writes into a directory. Nothing was run.");
            return false;
        }
        if (!Directory.Exists(root)) return true;
        var foreign = Directory.EnumerateFileSystemEntries(root).Select(Path.GetFileName).Where(n => n is not ("points" or "results" or "slurm")).Order(StringComparer.Ordinal).ToList();
        if (foreign.Count == 0) return SlurmDirIsOurs(root);
        Console.Error.WriteLine($"memvisor: --out: {Errors.Printable(Path.GetFullPath(root))} holds files Memvisor did not write for a sweep ({Errors.Printable(string.Join(", ", foreign.Take(5)))}{(foreign.Count > 5 ? ", ..." : "")}); a sweep's directory holds only its points/, results/ and slurm/. Give another. Nothing was run.");
        return false;
    }

    // The sweep's slurm/ holds only what the slurm executor writes: its batch script and a logs/ of task logs (JOB_TASK.out), none a link.
    private static bool SlurmDirIsOurs(string root)
    {
        string slurm = Path.Combine(root, "slurm");
        if (!Path.Exists(slurm)) return true;
        string? why = null;
        var info = new DirectoryInfo(slurm);
        if (!info.Exists || info.LinkTarget is not null) why = "is not a directory of its own";
        else
            foreach (var entry in info.EnumerateFileSystemInfos())
            {
                bool ours = entry.LinkTarget is null && (entry.Name == Slurm.SlurmJob.ScriptName
                    ? entry is FileInfo script && Slurm.SlurmJob.IsOurScript(script.FullName)
                    : entry.Name == "logs" && entry is DirectoryInfo logs && logs.EnumerateFileSystemInfos().All(l => l is FileInfo && l.LinkTarget is null && Slurm.SlurmJob.IsLogName(l.Name)));
                if (!ours)
                {
                    why = $"holds {entry.Name}, which Memvisor did not write";
                    break;
                }
            }
        if (why is null) return true;
        Console.Error.WriteLine($"memvisor: --out: {Errors.Printable(Path.GetFullPath(slurm))} {Errors.Printable(why)}; a sweep's slurm/ holds only the batch script and task logs the slurm executor writes. Give another directory. Nothing was run.");
        return false;
    }

    public static int RunPoint(string file, long index, string? outDir, CancellationToken cancel = default) => Guard.Run(() =>
    {
        if (!TryLoad(file, out var spec)) return ExitCodes.BadInput;
        if (index < 0 || index >= spec.PointCount)
        {
            Console.Error.WriteLine($"memvisor: --index: the sweep {Errors.Printable(spec.Name)} has points 0 to {spec.PointCount - 1}, not {index}.");
            return ExitCodes.BadInput;
        }
        SweepPoint point;
        try
        {
            point = SweepPlan.Point(spec, index);
        }
        catch (ScenarioException e)
        {
            PrintRefused(e);
            return ExitCodes.BadInput;
        }
        string root = DirectoryOf(spec, outDir);
        if (!RootIsOurs(root)) return ExitCodes.BadInput;
        string dir = Path.Combine(root, "points", point.DirectoryName);
        if (SweepWriter.TryReadPoint(dir, point) is not null) return ExitCodes.Ok;
        RunOne(spec, point, dir, threads: Environment.ProcessorCount, cancel);
        return ExitCodes.Ok;
    });

    // A point's run, or with the sweep's fit its density search, whose best count's run (the first tried, if none met) is the point's.
    private static SweepPointRecord RunOne(SweepSpec spec, SweepPoint point, string dir, int threads, CancellationToken cancel)
    {
        try
        {
            return RunPointIn(spec, point, dir, threads, cancel);
        }
        catch (Sim.Policies.ExternalPolicyException e)
        {
            throw new Sim.Policies.ExternalPolicyException($"Point {point.Index} ({point.Hash}): {e.Message}");
        }
    }

    private static SweepPointRecord RunPointIn(SweepSpec spec, SweepPoint point, string dir, int threads, CancellationToken cancel)
    {
        using var output = OutputDirectory.Prepare(dir, "sweep point");
        var wall = Stopwatch.StartNew();
        if (spec.Fit is not { } fit)
            return SweepWriter.WritePoint(output, point, new Simulation(point.Scenario, threads: threads).Run(cancel: cancel), wall.Elapsed.TotalSeconds);
        RunResult? kept = null;
        int keptCount = 0;
        var (best, _) = DensitySearch.Run(point.Scenario, fit.Domain, point.Scenario.Policy?.Name ?? "static", new ServiceLevel(fit.MaxStallShare), fit.MaxCount, seed: null,
            cancel: cancel, threads: threads, tried: (n, run, met) =>
            {
                if (kept is null || (met && n > keptCount)) (kept, keptCount) = (run, n);
            });
        return SweepWriter.WritePoint(output, point, kept!, wall.Elapsed.TotalSeconds, best);
    }

    /// <param name="slurm">Run the points as a Slurm job array so asked for; null runs them on this machine.</param>
    public static int Run(string file, string? outDir, int jobs, bool quiet, CancellationToken cancel = default, Slurm.SlurmOptions? slurm = null) => Guard.Run(() =>
    {
        if (jobs < 1)
        {
            Console.Error.WriteLine($"memvisor: --jobs: {jobs} is not a number of points at once; give 1 or more.");
            return ExitCodes.BadInput;
        }
        if (slurm?.Problem() is { } bad)
        {
            Console.Error.WriteLine($"memvisor: {bad} Nothing was run.");
            return ExitCodes.BadInput;
        }
        if (!TryLoad(file, out var spec) || !TryPlan(spec, out var points)) return ExitCodes.BadInput;
        string root = DirectoryOf(spec, outDir);
        if (!RootIsOurs(root)) return ExitCodes.BadInput;
        // The merged results are staged before any point runs, so a directory that cannot take them costs nothing.
        using var results = OutputDirectory.Prepare(Path.Combine(root, "results"), "sweep");
        var records = new SweepPointRecord?[points.Count];
        var todo = new List<int>();
        // Points of the same content (an axis value given twice) share one directory and one run.
        var firstOf = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < points.Count; i++)
        {
            records[i] = SweepWriter.TryReadPoint(Path.Combine(root, "points", points[i].DirectoryName), points[i]);
            if (records[i] is null && firstOf.TryAdd(points[i].Hash, i)) todo.Add(i);
        }
        if (slurm is not null) return RunOnSlurm(spec, file, points, root, results, records, todo, firstOf, slurm, quiet, cancel);
        int threads = Math.Max(1, Environment.ProcessorCount / jobs);
        void RunAll(Action? done)
        {
            try
            {
                Parallel.ForEach(todo, new ParallelOptions { MaxDegreeOfParallelism = jobs, CancellationToken = cancel }, i =>
                {
                    records[i] = RunOne(spec, points[i], Path.Combine(root, "points", points[i].DirectoryName), threads, cancel);
                    done?.Invoke();
                });
            }
            // A point's directory that may not be written stops the sweep with its own sentence (the finished points stay).
            catch (AggregateException e) when (e.Flatten().InnerExceptions.OfType<OutputException>().FirstOrDefault() is { } output)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(output);
            }
            catch (Exception e) when (Guard.IsCancellation(e))
            {
                throw new SweepInterrupted(Path.GetFullPath(Path.Combine(root, "points")), records.Count(r => r is not null));
            }
        }
        try
        {
            if (quiet || !AnsiConsole.Profile.Capabilities.Interactive)
            {
                if (!quiet) AnsiConsole.MarkupLine($"Running {todo.Count} of {points.Count} point(s) of [bold]{Markup.Escape(spec.Name)}[/] ({jobs} at a time; {points.Count - todo.Count} already done)...");
                RunAll(null);
            }
            else
                AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn()).Start(ctx =>
                {
                    var task = ctx.AddTask($"{Markup.Escape(spec.Name)}: {todo.Count} point(s) to run, {points.Count - todo.Count} done before", maxValue: Math.Max(1, todo.Count));
                    RunAll(() => { lock (task) task.Increment(1); });
                });
        }
        catch (SweepInterrupted e)
        {
            Console.Error.WriteLine($"memvisor: interrupted; the {e.Finished} point(s) finished are kept in {Errors.Printable(e.Points)} and no merged results were written. Run the sweep again to finish it.");
            return Interrupt.ExitCode;
        }
        return Merge(spec, points, root, results, records, firstOf, quiet);
    });

    // Points of the same content take the record of the first; the merged files are written and committed.
    private static int Merge(SweepSpec spec, List<SweepPoint> points, string root, OutputDirectory results, SweepPointRecord?[] records, Dictionary<string, int> firstOf, bool quiet)
    {
        for (int i = 0; i < points.Count; i++) records[i] ??= records[firstOf[points[i].Hash]]! with { Index = points[i].Index };
        SweepWriter.WriteResults(results, spec, [.. records.Select(r => r!)]);
        if (!quiet) AnsiConsole.MarkupLine($"Results in [bold]{Markup.Escape(results.Target)}[/]: sweep.csv and sweep.json; each point's run in {Markup.Escape(Path.GetFullPath(Path.Combine(root, "points")))}");
        return ExitCodes.Ok;
    }
}

/// <summary>A sweep stopped by an interrupt: its finished points stay where they are.</summary>
internal sealed class SweepInterrupted(string points, int finished) : Exception("The sweep was interrupted.")
{
    public string Points { get; } = points;
    public int Finished { get; } = finished;
}
