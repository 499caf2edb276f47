using System.CommandLine;
using Memvisor.Machine.Frames;
using Spectre.Console;

namespace Memvisor.Cli.Commands;

/// <summary><c>memvisor validate SCENARIO</c>: checks a scenario without running it.</summary>
public static class ValidateCommand
{
    public static Command Build()
    {
        var scenario = new Argument<string>("scenario") { Description = "A scenario YAML file or a built-in scenario name." };
        var command = new Command("validate", "Check a scenario without running it: keys, units, references, and that the static domains fit.") { scenario };
        command.SetAction(p => Validate(p.GetValue(scenario)!));
        return command;
    }

    public static int Validate(string argument)
    {
        if (!ScenarioSource.TryLoad(argument, out var s)) return ExitCodes.BadInput;
        int instances = s.Instances().Count();
        string hosts = s.MoreHosts.Count == 0 ? $"host {PageSize.ToMiB(PageSize.FromBytes(s.Host.MemoryBytes))} MiB"
            : $"{s.Hosts.Count} hosts ({string.Join(", ", s.Hosts.Select(h => $"{h.Name} {PageSize.ToMiB(PageSize.FromBytes(h.MemoryBytes))} MiB"))})";
        AnsiConsole.MarkupLine($"[green]{Markup.Escape(s.Source)} is valid[/]: '{Markup.Escape(s.Name)}', {Markup.Escape(hosts)}, " +
            $"{instances} domain(s), {s.Events.Count} action(s), {s.DurationNs / 1e9:0.#} s.");
        return ExitCodes.Ok;
    }
}
