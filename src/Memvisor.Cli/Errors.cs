using Memvisor.Sim.Scenarios;

namespace Memvisor.Cli;

internal static class Errors
{
    public static void Print(ScenarioException e)
    {
        Console.Error.WriteLine($"memvisor: the scenario was refused ({e.Errors.Count} problem{(e.Errors.Count == 1 ? "" : "s")}); nothing was run.");
        foreach (var error in e.Errors.Take(50))
            Console.Error.WriteLine(error.ToString());
    }
}
