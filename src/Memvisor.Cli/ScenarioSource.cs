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
        // Anything at that path is the user's file (a directory or a FIFO is refused by the loader, with its kind).
        if (FileStat.KindOf(argument) != FileKind.Missing) return ScenarioLoader.LoadFile(argument);
        string name = argument.StartsWith("builtin:", StringComparison.Ordinal) ? argument["builtin:".Length..] : argument;
        if (BuiltinScenarios.Exists(name)) return BuiltinScenarios.Load(name);
        throw new ScenarioException([new ScenarioError(argument, 0, 0, "(file)",
            $"there is no such file, nor a built-in scenario of that name (the built-in scenarios are {string.Join(", ", BuiltinScenarios.Names)}).")]);
    }
}
