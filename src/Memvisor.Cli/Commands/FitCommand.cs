using System.CommandLine;
using System.Globalization;
using Memvisor.Hypervisor.Paging;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;
using Spectre.Console;

namespace Memvisor.Cli.Commands;

/// <summary><c>memvisor fit SCENARIO --domain NAME --policy P</c>: the most domains of one type the host takes under a policy while meeting a service level.</summary>
public static class FitCommand
{
    public static Command Build()
    {
        var scenario = new Argument<string>("scenario") { Description = "A scenario YAML file or the name of a built-in scenario." };
        var domain = new Option<string>("--domain") { Description = "The domain type (a name under domains:) whose count is searched.", Required = true };
        var policy = new Option<string>("--policy") { Description = $"The policy: {string.Join(", ", PolicySpec.Names)}. Default: the scenario's, or static." };
        var stall = new Option<string>("--max-stall")
        {
            Description = "The service level's stall limit: guest time waiting on memory as a share of run time (1% or 0.01). Default: 1%.",
            DefaultValueFactory = _ => "1%",
        };
        var max = new Option<int>("--max") { Description = "The largest count tried. Default: 64.", DefaultValueFactory = _ => 64 };
        var seed = new Option<ulong?>("--seed") { Description = "Overrides the scenario's seed." };
        var createEvery = new Option<string?>("--create-every")
        {
            Description = "Create the replicas one after another, this far apart (30s, 1min), the first at the start: as Xen 3.3's overcommit starts domains so that each balloons down before the next. Default: all at the start.",
        };
        var threads = ThreadsOption.Create();
        var command = new Command("fit", "Density search: the largest count of a domain type that still meets a service level (stall under a share of run time, no OOM kill, every domain created, no integrity error).")
        {
            scenario, domain, policy, stall, max, seed, createEvery, threads,
        };
        command.SetAction(p => Run(p.GetValue(scenario)!, p.GetValue(domain)!, p.GetValue(policy), p.GetValue(stall)!, p.GetValue(max), p.GetValue(seed), p.GetValue(createEvery), Interrupt.Token, p.GetValue(threads)));
        return command;
    }

    public static int Run(string scenarioArg, string domain, string? policy, string stallText, int max, ulong? seed, string? createEvery = null, CancellationToken cancel = default, int? threads = null) =>
        Guard.Run(() => RunGuarded(scenarioArg, domain, policy, stallText, max, seed, createEvery, cancel, threads ?? Environment.ProcessorCount));

    private static int RunGuarded(string scenarioArg, string domain, string? policy, string stallText, int max, ulong? seed, string? createEveryText, CancellationToken cancel, int threads)
    {
        if (!ThreadsOption.Check(threads)) return ExitCodes.BadInput;
        if (!ScenarioSource.TryLoad(scenarioArg, out var scenario)) return ExitCodes.BadInput;
        // Temporary swap files of runs that were killed (SIGKILL leaves no chance to remove them) go first.
        SwapFile.RemoveStaleTemporaries(Path.GetTempPath());
        string name = policy ?? scenario.Policy?.Name ?? "static";
        // external is the scenario's own program, when it names one.
        if (name == PolicySpec.ExternalName && scenario.Policy?.External is null)
            return Refuse($"--policy: {PolicySpec.ExternalName} runs the scenario's own policy program, and this scenario names none (policy: {{ name: external, command: [...] }}).");
        if (!PolicySpec.Names.Contains(name) && name != PolicySpec.ExternalName)
            return Refuse($"--policy: '{name}' is not a policy; the policies are {string.Join(", ", PolicySpec.Names)}.");
        if (scenario.Domains.All(d => d.Name != domain))
            return Refuse($"--domain: the scenario has no domain '{domain}'; its domains are {string.Join(", ", scenario.Domains.Select(d => d.Name))}.");
        if (!TryShare(stallText, out double maxStall))
            return Refuse($"--max-stall: '{stallText}' is not a share; write a percentage such as 1% or a fraction such as 0.01.");
        if (max < 1 || max > 4096)
            return Refuse($"--max: {max} is not a count from 1 to 4096.");
        long createEveryNs = 0;
        if (createEveryText is not null)
        {
            if (!Units.TryParseDuration(createEveryText, out createEveryNs) || createEveryNs <= 0)
                return Refuse($"--create-every: '{createEveryText}' is not a duration above 0; write one such as 30s or 1min.");
            if ((max - 1) * (double)createEveryNs >= scenario.DurationNs)
                return Refuse($"--create-every: {max} replicas {createEveryText} apart would not all be created within the scenario's {scenario.DurationNs / 1e9:0.###}s; lower --max or --create-every, or lengthen the scenario.");
        }
        // The search names the instances domain-1 .. domain-max: none may be another domain's name.
        if (DensitySearch.ClashingInstance(scenario, domain, max) is { } clash)
            return Refuse($"--domain: counting {domain} up to {max} would name an instance '{clash}', which is already another domain of the scenario; rename that domain or lower --max.");

        // The largest count tried must fit in this machine's memory, as every scenario must.
        if (ScenarioChecks.MachineProblem(DensitySearch.WithCount(scenario, domain, max)) is { } tooBig)
        {
            int fits = Enumerable.Range(1, max - 1).Reverse().FirstOrDefault(n => ScenarioChecks.MachineProblem(DensitySearch.WithCount(scenario, domain, n)) is null);
            return Refuse($"--max: {max} × {domain} cannot be modeled here: {tooBig} " + (fits > 0 ? $"At most {fits} fit; lower --max." : "Not even one fits."));
        }

        AnsiConsole.MarkupLine($"Fitting [bold]{Markup.Escape(domain)}[/] into {Markup.Escape(scenario.Name)} under {Markup.Escape(name)}: stall at most {maxStall * 100:0.###}%, no OOM kill.");
        var (best, trials) = DensitySearch.Run(scenario, domain, name, new ServiceLevel(maxStall), max, seed,
            n => AnsiConsole.MarkupLine($"  trying {n}..."), cancel, createEveryNs, threads);
        var table = new Table().AddColumns("Count", "Met", "Stall %", "Major faults", "OOM kills", "Peak used MiB", "Why not");
        foreach (var t in trials.OrderBy(t => t.Count))
            table.AddRow(t.Count.ToString(CultureInfo.InvariantCulture), t.Met ? "yes" : "no", (t.Outcome.StallShare * 100).ToString("0.###", CultureInfo.InvariantCulture),
                t.Outcome.MajorFaults.ToString(CultureInfo.InvariantCulture), t.Outcome.OomKills.ToString(CultureInfo.InvariantCulture),
                t.Outcome.PeakHostUsedMib.ToString("0", CultureInfo.InvariantCulture), Markup.Escape(t.Reason));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(best == 0
            ? $"Not even one {Markup.Escape(domain)} meets the service level under {Markup.Escape(name)}."
            : $"At most [bold]{best}[/] × {Markup.Escape(domain)} meet the service level under {Markup.Escape(name)}{(best == max ? $" (the cap, --max {max})" : "")}.");
        return ExitCodes.Ok;
    }

    private static int Refuse(string message)
    {
        Console.Error.WriteLine($"memvisor: {message}");
        return ExitCodes.BadInput;
    }

    private static bool TryShare(string text, out double share)
    {
        bool percent = text.EndsWith('%');
        bool ok = double.TryParse(percent ? text[..^1] : text, NumberStyles.Float, CultureInfo.InvariantCulture, out share);
        if (percent) share /= 100;
        return ok && share >= 0 && share <= 1;
    }
}
