using System.CommandLine;
using Memvisor.Cli;
using Memvisor.Cli.Commands;
using Memvisor.Native;

// Redirected output (a log, CI) gets plain text, not terminal escape codes.
if (Console.IsOutputRedirected)
{
    Spectre.Console.AnsiConsole.Profile.Capabilities.Ansi = false;
    // A log is read in an editor, not an 80-column terminal: keep tables on one line per row.
    Spectre.Console.AnsiConsole.Profile.Width = 200;
}

try
{
    NativeProbe.EnsureLoaded();
}
catch (NativeLibraryMissingException e)
{
    Console.Error.WriteLine($"memvisor: {e.Message}");
    return ExitCodes.Failure;
}

var root = new RootCommand("Memvisor: a hypervisor memory manager you can run. Machine frames, domains, p2m and memory_op hypercalls, " +
                           "driven by scenarios of domains, workloads and toolstack actions on a deterministic simulated clock.")
{
    RunCommand.Build(),
    CompareCommand.Build(),
    SweepCommand.Build(),
    DecideCommand.Build(),
    DaemonCommand.Build(),
    RecordCommand.Build(),
    FitCommand.Build(),
    ValidateCommand.Build(),
    ScenariosCommand.Build(),
    TraceCommand.Build(),
    AnalyzeCommand.Build(),
    SchemaCommand.Build(),
};
var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    foreach (var error in parse.Errors) Console.Error.WriteLine($"memvisor: {error.Message}");
    Console.Error.WriteLine("Try 'memvisor --help'.");
    return ExitCodes.BadInput;
}
Interrupt.Install();
try
{
    return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (Guard.IsCancellation(e))
{
    Console.Error.WriteLine("memvisor: interrupted; no results were written and nothing was left behind.");
    return Interrupt.ExitCode;
}
catch (Exception e)
{
    // No input should get here; if one does, the user sees a sentence, not a stack trace (MEMVISOR_DEBUG=1 shows it).
    Console.Error.WriteLine($"memvisor: internal error: {e.GetType().Name}: {e.Message} This is a bug in Memvisor; please report it with the command that caused it.");
    if (Environment.GetEnvironmentVariable("MEMVISOR_DEBUG") == "1") Console.Error.WriteLine(e);
    return ExitCodes.Failure;
}
