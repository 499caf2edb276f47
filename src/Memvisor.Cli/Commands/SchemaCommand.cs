using System.CommandLine;
using Memvisor.Report.Json;

namespace Memvisor.Cli.Commands;

/// <summary><c>memvisor schema NAME</c>: prints the JSON Schema of summary.json, compare.json or sweep.json (docs/schema/ holds the same).</summary>
public static class SchemaCommand
{
    public static Command Build()
    {
        var name = new Argument<string>("NAME") { Description = "summary, compare, sweep, snapshot (a policy's input: run --snapshots, decide, an external policy's stdin) or actions (a policy's answer)." };
        var command = new Command("schema", "Print the JSON Schema that summary.json, compare.json, a sweep's sweep.json, a policy snapshot or a policy's actions follow.") { name };
        command.SetAction(p =>
        {
            string n = p.GetValue(name)!;
            if (!OutputSchema.Exists(n))
            {
                Console.Error.WriteLine($"memvisor: there is no output schema '{n}'; the schemas are {string.Join(", ", OutputSchema.Names)}.");
                return ExitCodes.BadInput;
            }
            Console.Out.Write(OutputSchema.Export(n));
            return ExitCodes.Ok;
        });
        return command;
    }
}
