using System.CommandLine;
using Memvisor.Sim.Scenarios;
using Spectre.Console;

namespace Memvisor.Cli.Commands;

/// <summary><c>memvisor scenarios [--print NAME]</c>: lists the built-in scenarios or prints one (to copy and edit).</summary>
public static class ScenariosCommand
{
    public static Command Build()
    {
        var print = new Option<string?>("--print") { Description = "Print the YAML of this built-in scenario." };
        var command = new Command("scenarios", "List the built-in scenarios, or print one as a starting point for your own.") { print };
        command.SetAction(p =>
        {
            if (p.GetValue(print) is { } name)
            {
                if (!BuiltinScenarios.Exists(name))
                {
                    Console.Error.WriteLine($"memvisor: there is no built-in scenario '{name}'; the built-in scenarios are {string.Join(", ", BuiltinScenarios.Names)}.");
                    return ExitCodes.BadInput;
                }
                Console.Out.Write(BuiltinScenarios.Text(name));
                return ExitCodes.Ok;
            }
            var table = new Table().AddColumns("Name", "Description");
            foreach (var n in BuiltinScenarios.Names)
                table.AddRow(Markup.Escape(n), Markup.Escape(BuiltinScenarios.Description(n)));
            AnsiConsole.Write(table);
            return ExitCodes.Ok;
        });
        return command;
    }
}
