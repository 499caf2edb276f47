using System.CommandLine;
using System.Globalization;
using Memvisor.Guest.Workloads.Trace;
using Memvisor.Hypervisor.Paging;
using Memvisor.Hypervisor.Personalities;
using Memvisor.Report.Output;
using Memvisor.Report;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;
using Spectre.Console;

namespace Memvisor.Cli.Commands;

/// <summary><c>memvisor compare SCENARIO --policies a,b,c</c> (or <c>--hypervisors xen,esx,...</c>): the scenario once per policy or hypervisor, on the same workloads and seed, side by side.</summary>
public static class CompareCommand
{
    public static Command Build()
    {
        var scenario = new Argument<string>("scenario") { Description = "A scenario YAML file or the name of a built-in scenario." };
        var policies = new Option<string>("--policies")
        {
            Description = $"Comma-separated policies to compare (of {string.Join(", ", PolicySpec.Names)}). Default: all.",
            DefaultValueFactory = _ => string.Join(',', PolicySpec.Names),
        };
        var hypervisors = new Option<string?>("--hypervisors")
        {
            Description = $"Comma-separated hypervisors to compare instead of policies (of {string.Join(", ", HostPersonality.Names)}): the same guests on each one's host, each with its own policy unless the scenario names one.",
        };
        var tiering = new Option<string?>("--tiering")
        {
            Description = $"Comma-separated ways of tiering a host with memory nodes to compare instead of policies (of {string.Join(", ", TieringLab.Names)}): {string.Join("; ", TieringLab.Names.Select(n => $"{n}, {TieringLab.Describe(n)}"))}.",
        };
        var largePages = new Option<string?>("--large-pages")
        {
            Description = $"Comma-separated ways of using 2 MiB pages to compare instead of policies (of {string.Join(", ", LargePagesLab.Names)}): {string.Join("; ", LargePagesLab.Names.Select(n => $"{n}, {LargePagesLab.Describe(n)}"))}.",
        };
        var seed = new Option<ulong?>("--seed") { Description = "Overrides the scenario's seed (the same for every run)." };
        var output = new Option<string?>("--out") { Description = "Directory for compare.json, report.html and one run directory per policy. Default: ./memvisor-out/<scenario>-compare/." };
        var jobs = new Option<int>("--jobs") { Description = "Runs at once. Default: the machine's cores.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var quiet = new Option<bool>("--quiet") { Description = "No progress and no table; only errors." };
        var threads = ThreadsOption.Create();
        threads.Description = "How many guests of each run step at once; the results are the same for any number. Default: the machine's cores shared among the runs at once (--jobs).";
        var command = new Command("compare", "Run a scenario under several memory policies (or on several hypervisors) on identical workloads and compare them: host memory used, VMs that fit, faults, stall time, reclaim latency, OOM kills.")
        {
            scenario, policies, hypervisors, tiering, largePages, seed, output, jobs, quiet, threads,
        };
        command.SetAction(p => Run(p.GetValue(scenario)!, p.GetResult(policies) is { Implicit: false } ? p.GetValue(policies) : null, p.GetValue(seed), p.GetValue(output),
            p.GetValue(jobs), p.GetValue(quiet), Interrupt.Token, p.GetValue(hypervisors), p.GetValue(threads), p.GetValue(tiering), p.GetValue(largePages)));
        return command;
    }

    /// <param name="policyList">The policies to compare; null (not given) is all of them, or with <paramref name="hypervisorList"/> each hypervisor's own.</param>
    public static int Run(string scenarioArg, string? policyList, ulong? seed, string? outDir, int jobs, bool quiet, CancellationToken cancel = default, string? hypervisorList = null,
        int? threads = null, string? tieringList = null, string? largePagesList = null) =>
        Guard.Run(() => RunGuarded(scenarioArg, policyList, seed, outDir, jobs, quiet, cancel, hypervisorList, threads ?? Math.Max(1, Environment.ProcessorCount / Math.Max(1, jobs)), tieringList,
            largePagesList));

    private static int RunGuarded(string scenarioArg, string? policyList, ulong? seed, string? outDir, int jobs, bool quiet, CancellationToken cancel, string? hypervisorList, int threads,
        string? tieringList, string? largePagesList)
    {
        if (jobs < 1)
        {
            Console.Error.WriteLine($"memvisor: --jobs: {jobs} is not a number of runs at once; give 1 or more.");
            return ExitCodes.BadInput;
        }
        if (!ThreadsOption.Check(threads)) return ExitCodes.BadInput;
        if (new[] { policyList, hypervisorList, tieringList, largePagesList }.Count(l => l is not null) > 1)
        {
            Console.Error.WriteLine("memvisor: --policies, --hypervisors, --tiering and --large-pages: give one; with --hypervisors each host runs its own policy, or the one the scenario names, and with --tiering or --large-pages the scenario's.");
            return ExitCodes.BadInput;
        }
        var (valid, option, noun, nouns) = hypervisorList is not null ? (HostPersonality.Names, "--hypervisors", "hypervisor", "hypervisors")
            : tieringList is not null ? (TieringLab.Names, "--tiering", "way of tiering", "ways of tiering")
            : largePagesList is not null ? (LargePagesLab.Names, "--large-pages", "way of using large pages", "ways of using large pages")
            : ([.. PolicySpec.Names, PolicySpec.ExternalName], "--policies", "policy", "policies");
        var names = (hypervisorList ?? tieringList ?? largePagesList ?? policyList ?? string.Join(',', PolicySpec.Names)).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().ToList();
        var unknown = names.Where(n => !valid.Contains(n)).ToList();
        if (names.Count == 0 || unknown.Count > 0)
        {
            Console.Error.WriteLine($"memvisor: {option}: {(names.Count == 0 ? $"no {noun} was given" : $"'{string.Join("', '", unknown)}' is not a {noun}")}; the {nouns} are {string.Join(", ", valid)}.");
            return ExitCodes.BadInput;
        }
        if (!ScenarioSource.TryLoad(scenarioArg, out var scenario)) return ExitCodes.BadInput;
        if (policyList is not null && names.Contains(PolicySpec.ExternalName) && scenario.Policy?.External is null)
        {
            Console.Error.WriteLine($"memvisor: --policies: {PolicySpec.ExternalName} runs the scenario's own policy program, and {Errors.Printable(scenario.Name)} names none (policy: {{ name: external, command: [...] }}). Nothing was run.");
            return ExitCodes.BadInput;
        }
        var notes = new List<string>();
        var variants = new List<(string Name, Scenario Scenario)>();
        foreach (var name in names)
        {
            if (tieringList is not null)
            {
                if (TieringLab.With(scenario, name, notes, out string? why) is not { } tiered)
                {
                    Console.Error.WriteLine($"memvisor: --tiering {name}: {why} Nothing was run.");
                    return ExitCodes.BadInput;
                }
                variants.Add((name, tiered));
                continue;
            }
            if (largePagesList is not null)
            {
                variants.Add((name, LargePagesLab.With(scenario, name, notes)));
                continue;
            }
            if (hypervisorList is null)
            {
                variants.Add((name, PolicyLab.WithPolicy(scenario, name)));
                continue;
            }
            var (onHost, changed) = HypervisorLab.On(scenario, HostPersonality.Find(name)!);
            variants.Add((name, onHost));
            notes.AddRange(changed);
        }
        // Temporary swap files of runs that were killed (SIGKILL leaves no chance to remove them) go first.
        SwapFile.RemoveStaleTemporaries(Path.GetTempPath());
        // Runs with a named swap file take turns with it: two at once would each lock the other out.
        if (scenario.Hosts.Any(h => h.Overcommit.Paging.SwapFile is not null)) jobs = 1;
        using var output = OutputDirectory.Prepare(outDir ?? Path.Combine("memvisor-out", scenario.Name + "-compare"), "compare");
        if (scenario.Hosts.Select(h => h.Overcommit.Paging.SwapFile).FirstOrDefault(f => f is not null && output.Contains(f)) is { } swap)
        {
            Console.Error.WriteLine($"memvisor: the swap file {swap} is inside the output directory {output.Target}, where only the run's results may be; put it elsewhere. Nothing was run.");
            return ExitCodes.BadInput;
        }

        IReadOnlyList<(Sim.Engine.RunResult Result, double WallSeconds)> runs;
        try
        {
            runs = Simulate(scenario, variants, seed, jobs, threads, quiet, cancel);
        }
        catch (AggregateException e) when (e.InnerException is TraceFormatException t)
        {
            Console.Error.WriteLine($"memvisor: a trace could not be replayed; nothing was written. {t.Message}");
            return ExitCodes.BadInput;
        }
        catch (AggregateException e) when (e.InnerException is Guest.Images.ImageFormatException or IOException)
        {
            Console.Error.WriteLine($"memvisor: a domain's memory image could not be read; nothing was written. {e.InnerException!.Message}");
            return ExitCodes.BadInput;
        }
        var outcomes = TieringOutcome.AgainstAllDram(runs.Zip(variants).Select(r => PolicyOutcome.From(r.First.Result, r.Second.Name) is var o && largePagesList is not null
            ? o with { LargePages = LargePagesOutcome.From(r.First.Result.Summary) } : o).ToList());
        CompareWriter.WriteAll(output, scenario, runs, outcomes, notes);
        if (!quiet)
        {
            if (tieringList is not null) PrintTiers(outcomes);
            else if (largePagesList is not null) PrintLargePages(outcomes);
            else Print(outcomes);
            foreach (var n in notes) AnsiConsole.MarkupLine($"[grey]{Markup.Escape(n)}[/]");
            AnsiConsole.MarkupLine($"Results in [bold]{Markup.Escape(output.Target)}[/]: compare.json, report.html, and a run directory per {noun}");
        }
        return ExitCodes.Ok;
    }

    private static IReadOnlyList<(Sim.Engine.RunResult, double)> Simulate(Scenario scenario, List<(string Name, Scenario Scenario)> variants, ulong? seed, int jobs, int threads, bool quiet, CancellationToken cancel)
    {
        var names = variants.Select(v => v.Name).ToList();
        if (quiet || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            if (!quiet) AnsiConsole.MarkupLine($"Running [bold]{Markup.Escape(scenario.Name)}[/] under {string.Join(", ", names)} ({jobs} at a time)...");
            return PolicyLab.RunAll(variants, seed, jobs, cancel: cancel, threads: threads);
        }
        IReadOnlyList<(Sim.Engine.RunResult, double)> runs = [];
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var tasks = names.ToDictionary(n => n, n => ctx.AddTask($"{Markup.Escape(n)}", maxValue: 1.0));
                runs = PolicyLab.RunAll(variants, seed, jobs, (n, done) => { lock (tasks) tasks[n].Value = done; }, cancel, threads);
            });
        return runs;
    }

    private static void Print(IReadOnlyList<PolicyOutcome> outcomes)
    {
        var table = new Table().AddColumns("Run", "Hypervisor", "Policy", "Peak used MiB", "Mean used MiB", "VMs fit", "Major faults", "Swap-ins",
            "Stall s", "Stall %", "Reclaim mean/max s", "Unmet", "OOM kills", "Integrity errors");
        for (int i = 3; i < table.Columns.Count; i++) table.Columns[i].RightAligned();
        foreach (var o in outcomes)
            table.AddRow(o.Name, o.Hypervisor, o.Policy, F(o.PeakHostUsedMib), F(o.MeanHostUsedMib), $"{o.VmsFit}/{o.Vms}", o.MajorFaults.ToString(CultureInfo.InvariantCulture),
                o.SwapIns.ToString(CultureInfo.InvariantCulture), F(o.StallS), F(o.StallShare * 100), $"{F(o.ReclaimMeanS)}/{F(o.ReclaimMaxS)}",
                o.ReclaimUnmet.ToString(CultureInfo.InvariantCulture), o.OomKills.ToString(CultureInfo.InvariantCulture), o.IntegrityErrors.ToString(CultureInfo.InvariantCulture));
        AnsiConsole.Write(table);
    }

    private static void PrintTiers(IReadOnlyList<PolicyOutcome> outcomes)
    {
        var table = new Table().AddColumns("Run", "Accesses", "Lost %", "Slowdown %", "Slow-tier accesses %", "Stall %", "Guest MiB off DRAM", "Promoted", "Demoted", "Shootdowns",
            "Slow-tier writes", "Integrity errors");
        for (int i = 1; i < table.Columns.Count; i++) table.Columns[i].RightAligned();
        foreach (var o in outcomes)
        {
            if (o.Tiers is not { } t) continue;
            table.AddRow(o.Name, N(t.Accesses), t.AccessesLost is double l ? F(l * 100) : "-", t.Slowdown is double s ? F(s * 100) : "-", F(t.SlowAccessShare * 100), F(o.StallShare * 100), F(t.SlowPagesEndMib),
                N(t.Promoted), N(t.Demoted), N(t.Shootdowns), N(t.SlowWrites), N(o.IntegrityErrors));
        }
        AnsiConsole.Write(table);
    }

    private static void PrintLargePages(IReadOnlyList<PolicyOutcome> outcomes)
    {
        var table = new Table().AddColumns("Run", "Accesses", "TLB miss %", "Refs/walk", "Stall %", "Guest huge end", "Guest splits", "Host 2MiB end", "Host broken",
            "Shared MiB", "Peak used MiB", "Swap-ins", "Integrity errors");
        for (int i = 1; i < table.Columns.Count; i++) table.Columns[i].RightAligned();
        foreach (var o in outcomes)
        {
            if (o.LargePages is not { } l) continue;
            table.AddRow(o.Name, N(l.Accesses), F(l.TlbMissShare * 100), F(l.RefsPerWalk), F(o.StallShare * 100), N(l.GuestHugePagesEnd), N(l.GuestSplitsReclaim + l.GuestSplitsMigration),
                N(l.HostLargePagesEnd), N(l.HostBroken), F(l.SharedSavedMib), F(o.PeakHostUsedMib), N(o.SwapIns), N(o.IntegrityErrors));
        }
        AnsiConsole.Write(table);
    }

    private static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);

    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);
}
