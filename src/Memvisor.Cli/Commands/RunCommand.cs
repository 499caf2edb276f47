using System.CommandLine;
using System.Diagnostics;
using Memvisor.Guest.Workloads.Trace;
using Memvisor.Hypervisor.Paging;
using Memvisor.Machine.Frames;
using Memvisor.Report.Output;
using Memvisor.Report;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;
using Spectre.Console;

namespace Memvisor.Cli.Commands;

/// <summary><c>memvisor run [SCENARIO] [--seed N] [--out DIR]</c>: runs a scenario and writes its summary, time series, report and run figures.</summary>
public static class RunCommand
{
    public static Command Build()
    {
        var scenario = new Argument<string?>("scenario")
        {
            Arity = ArgumentArity.ZeroOrOne,
            Description = "A scenario YAML file, or the name of a built-in scenario (see 'memvisor scenarios'). Default: the built-in 'default'.",
        };
        var seed = new Option<ulong?>("--seed") { Description = "Overrides the scenario's seed." };
        var output = new Option<string?>("--out") { Description = "Directory for summary.json, timeseries.csv, report.html and run.json. Default: ./memvisor-out/<scenario name>/." };
        var quiet = new Option<bool>("--quiet") { Description = "No progress bar and no table; only errors." };
        var snapshots = new Option<bool>("--snapshots")
        {
            Description = "Also write what the policy saw at each decision (every 10 s without a policy) as DIR/snapshots/t<ms>ms.json, the input of 'memvisor decide'.",
        };
        var threads = ThreadsOption.Create();
        var command = new Command("run", "Run a scenario: build the host and its domains, play the timeline, write the results.")
        {
            scenario, seed, output, quiet, snapshots, threads,
        };
        command.SetAction(p => Run(p.GetValue(scenario), p.GetValue(seed), p.GetValue(output), p.GetValue(quiet), p.GetValue(snapshots), Interrupt.Token, p.GetValue(threads)));
        return command;
    }

    public static int Run(string? scenarioArg, ulong? seed, string? outDir, bool quiet, bool snapshots = false, CancellationToken cancel = default, int? threads = null) =>
        Guard.Run(() => RunGuarded(scenarioArg, seed, outDir, quiet, snapshots, cancel, threads ?? Environment.ProcessorCount));

    private static int RunGuarded(string? scenarioArg, ulong? seed, string? outDir, bool quiet, bool snapshots, CancellationToken cancel, int threads)
    {
        if (!ThreadsOption.Check(threads)) return ExitCodes.BadInput;
        if (!ScenarioSource.TryLoad(scenarioArg, out var scenario)) return ExitCodes.BadInput;
        // Temporary swap files of runs that were killed (SIGKILL leaves no chance to remove them) go first.
        SwapFile.RemoveStaleTemporaries(Path.GetTempPath());
        // The output is checked (and its staging directory made) before the run, so a target that cannot be written costs nothing.
        using var output = OutputDirectory.Prepare(outDir ?? Path.Combine("memvisor-out", scenario.Name), "run");
        if (scenario.Hosts.Select(h => h.Overcommit.Paging.SwapFile).FirstOrDefault(f => f is not null && output.Contains(f)) is { } swap)
        {
            Console.Error.WriteLine($"memvisor: the swap file {Errors.Printable(swap)} is inside the output directory {output.Target}, where only the run's results may be; put it elsewhere. Nothing was run.");
            return ExitCodes.BadInput;
        }

        long baseline = RunInfo.ReadPeakRss();
        var wall = Stopwatch.StartNew();
        RunResult result;
        try
        {
            result = Simulate(scenario, seed, quiet, snapshots, threads, cancel);
        }
        catch (TraceFormatException e)
        {
            Console.Error.WriteLine($"memvisor: a trace could not be replayed; nothing was written. {Errors.Printable(e.Message)}");
            return ExitCodes.BadInput;
        }
        catch (Exception e) when (e is Guest.Images.ImageFormatException or IOException)
        {
            Console.Error.WriteLine($"memvisor: a domain's memory image could not be read; nothing was written. {Errors.Printable(e.Message)}");
            return ExitCodes.BadInput;
        }
        wall.Stop();

        var info = new RunInfo(wall.Elapsed.TotalSeconds, RunInfo.ReadPeakRss(), baseline, GC.GetTotalMemory(false));
        ReportWriter.WriteAll(output, result, info);

        if (!quiet)
        {
            PrintList(result);
            AnsiConsole.MarkupLine($"Results in [bold]{Markup.Escape(output.Target)}[/]: summary.json, timeseries.csv, report.html, run.json");
            if (result.ErrorsTotal > 0)
                AnsiConsole.MarkupLine($"[yellow]{result.ErrorsTotal} request(s) were refused[/]; see errors in summary.json.");
        }
        return ExitCodes.Ok;
    }

    private static RunResult Simulate(Scenario scenario, ulong? seed, bool quiet, bool snapshots, int threads, CancellationToken cancel)
    {
        RunResult result;
        if (quiet || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            if (!quiet) AnsiConsole.MarkupLine($"Running [bold]{Markup.Escape(scenario.Name)}[/] ({scenario.DurationNs / 1e9:0.#} simulated seconds)...");
            result = new Simulation(scenario, seed, snapshots, threads).Run(cancel: cancel);
        }
        else
        {
            result = null!;
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask($"{Markup.Escape(scenario.Name)}: simulating {scenario.DurationNs / 1e9:0.#} s", maxValue: 1.0);
                    result = new Simulation(scenario, seed, snapshots, threads).Run(done => task.Value = done, cancel);
                });
        }
        return result;
    }

    /// <summary>The end state as <c>xl list</c> shows it, with MaxMem and tot_pages.</summary>
    private static void PrintList(RunResult r)
    {
        var table = new Table().AddColumns("Name", "ID", "Mem", "MaxMem", "tot_pages");
        foreach (var i in new[] { 1, 2, 3, 4 }) table.Columns[i].RightAligned();
        foreach (var d in r.Domains.Where(d => d.State == DomainState.Running))
            table.AddRow(Markup.Escape(d.Name), d.DomId.ToString(), PageSize.ToMiB(d.Domain!.TotPages).ToString(),
                PageSize.ToMiB(d.Domain.MaxPages).ToString(), d.Domain.TotPages.ToString());
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"Host{(r.Summary.Hosts is { } hs ? $" {Markup.Escape(r.Summary.Host.Name ?? "")} (the first of {hs.Count})" : "")}: {PageSize.ToMiB(r.Frames)} MiB, free {PageSize.ToMiB(r.End.FreeFrames)} MiB at the end (lowest {PageSize.ToMiB(r.FreePagesMin)} MiB), " +
            $"{PageSize.ToMiB(r.End.ScrubPendingFrames)} MiB waiting to be scrubbed.");
    }
}
