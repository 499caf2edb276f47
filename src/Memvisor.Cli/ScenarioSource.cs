using Memvisor.Native;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Cli;

/// <summary>Finds a scenario from what the user typed: a file path, or the name of a built-in scenario.</summary>
public static class ScenarioSource
{
    /// <summary>Loads the scenario, or prints why it was refused (file, line, field) and returns false.</summary>
    public static bool TryLoad(string? argument, out Scenario scenario)
    {
        try
        {
            scenario = Load(argument);
            return true;
        }
        catch (ScenarioException e)
        {
            Errors.Print(e);
            scenario = null!;
            return false;
        }
    }

    public static Scenario Load(string? argument)
    {
        if (argument is null) return BuiltinScenarios.Load(BuiltinScenarios.DefaultName);
        string name = argument.StartsWith("builtin:", StringComparison.Ordinal) ? argument["builtin:".Length..] : argument;
        // Anything at that path is the user's file (a FIFO is refused by the loader, with its kind); a directory that
        // happens to share a built-in scenario's name does not hide the built-in.
        var kind = FileStat.KindOf(argument);
        if (kind != FileKind.Missing && !(kind == FileKind.Directory && BuiltinScenarios.Exists(name))) return ScenarioLoader.LoadFile(argument);
        if (BuiltinScenarios.Exists(name)) return BuiltinScenarios.Load(name);
        throw new ScenarioException([new ScenarioError(argument, 0, 0, "(file)",
            $"there is no such file, nor a built-in scenario of that name (the built-in scenarios are {string.Join(", ", BuiltinScenarios.Names)}).")]);
    }
}
