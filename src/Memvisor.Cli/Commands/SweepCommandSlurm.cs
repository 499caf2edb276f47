using System.Globalization;
using Memvisor.Cli.Slurm;
using Memvisor.Report;
using Memvisor.Report.Output;
using Memvisor.Sim.Sweeps;
using Spectre.Console;

namespace Memvisor.Cli.Commands;

// sweep --executor slurm: the points to run as one job array, followed until no task is left, then merged as a local sweep is.
public static partial class SweepCommand
{
    private static int RunOnSlurm(SweepSpec spec, string file, List<SweepPoint> points, string root, OutputDirectory results, SweepPointRecord?[] records, List<int> todo,
        Dictionary<string, int> firstOf, SlurmOptions options, bool quiet, CancellationToken cancel)
    {
        string PointDir(int i) => Path.Combine(root, "points", points[i].DirectoryName);
        if (todo.Count > 0)
        {
            string slurmDir = Path.GetFullPath(Path.Combine(root, "slurm"));
            Directory.CreateDirectory(slurmDir);
            string script = Path.Combine(slurmDir, SlurmJob.ScriptName);
            File.WriteAllText(script, SlurmJob.Script(spec.Name, Path.GetFullPath(file), Path.GetFullPath(root), [.. todo.Select(i => points[i].Index)], options));
            // A --memvisor command that bash cannot read would fail in every task: it is refused here.
            if (Shell.Run("bash", ["-n", script], TimeSpan.FromSeconds(30)) is { ExitCode: not 0 } syntax)
            {
                File.Delete(script);
                Console.Error.WriteLine($"memvisor: --memvisor: the batch script {Errors.Printable(script)} was not valid bash with that command ({Errors.Printable(syntax.Err.Trim())}). Nothing was run.");
                return ExitCodes.BadInput;
            }
            var job = SlurmJob.Submit(script, Path.Combine(slurmDir, "logs"), out string? error);
            if (job is null)
            {
                Console.Error.WriteLine($"memvisor: {error} Nothing was run.");
                return ExitCodes.Failure;
            }
            if (!quiet) AnsiConsole.MarkupLine($"Submitted job array [bold]{job.Id}[/]: {todo.Count} of {points.Count} point(s) of [bold]{Markup.Escape(spec.Name)}[/] ({points.Count - todo.Count} already done); script {Markup.Escape(script)}, logs in {Markup.Escape(job.Logs)}.");
            int Finished() => todo.Count(i => File.Exists(Path.Combine(PointDir(i), SweepWriter.PointFile)));
            string? problem = null;
            bool interrupted = false;
            void Follow(Action<int, int>? progress)
            {
                while (true)
                {
                    if (cancel.WaitHandle.WaitOne(options.Poll))
                    {
                        interrupted = true;
                        job.Cancel();
                        return;
                    }
                    int? remaining = job.Remaining(out problem);
                    if (remaining is null) return;
                    progress?.Invoke(Finished(), remaining.Value);
                    if (remaining == 0) return;
                }
            }
            if (quiet || !AnsiConsole.Profile.Capabilities.Interactive) Follow(null);
            else
                AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn()).Start(ctx =>
                {
                    var task = ctx.AddTask($"job {job.Id}: {todo.Count} point(s)", maxValue: todo.Count);
                    Follow((done, left) =>
                    {
                        task.Value = done;
                        task.Description = $"job {job.Id}: {done} of {todo.Count} done, {left} task(s) pending or running";
                    });
                });
            if (interrupted)
            {
                Console.Error.WriteLine($"memvisor: interrupted; job array {job.Id} was cancelled (scancel). The points finished are kept in {Errors.Printable(Path.GetFullPath(Path.Combine(root, "points")))} and no merged results were written. Run the sweep again to finish it.");
                return Interrupt.ExitCode;
            }
            if (problem is not null)
            {
                Console.Error.WriteLine($"memvisor: {problem} Job array {job.Id} may still be running; no merged results were written. Run the sweep again once it is done: finished points are kept.");
                return ExitCodes.Failure;
            }
            foreach (int i in todo) records[i] = SweepWriter.TryReadPoint(PointDir(i), points[i]);
            var failed = todo.Where(i => records[i] is null).ToList();
            if (failed.Count > 0)
            {
                var states = job.States();
                Console.Error.WriteLine($"memvisor: {failed.Count} of {todo.Count} point(s) of job array {job.Id} did not finish; no merged results were written. Run the sweep again to run them again (the others are kept):");
                foreach (int i in failed.Take(50))
                {
                    long index = points[i].Index;
                    string state = states.TryGetValue(index, out var s) ? s : "state unknown";
                    Console.Error.WriteLine($"  point {index.ToString(CultureInfo.InvariantCulture)} ({points[i].Hash}): task {job.Id}_{index.ToString(CultureInfo.InvariantCulture)}, {state}, log {Errors.Printable(job.LogOf(index))}");
                }
                if (failed.Count > 50) Console.Error.WriteLine($"  ... and {failed.Count - 50} more.");
                return ExitCodes.Failure;
            }
        }
        return Merge(spec, points, root, results, records, firstOf, quiet);
    }
}
