using System.Text;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Cli;

internal static class Errors
{
    public static void Print(ScenarioException e)
    {
        Console.Error.WriteLine($"memvisor: the scenario was refused ({e.Errors.Count} problem{(e.Errors.Count == 1 ? "" : "s")}); nothing was run.");
        foreach (var error in e.Errors.Take(50))
            Console.Error.WriteLine(Printable(error.ToString()));
    }

    /// <summary>The text with control characters written as \uXXXX: a name from a file never drives the terminal.</summary>
    public static string Printable(string text)
    {
        if (!text.Any(char.IsControl)) return text;
        var sb = new StringBuilder(text.Length + 16);
        foreach (char c in text) sb.Append(char.IsControl(c) ? $"\\u{(int)c:x4}" : c);
        return sb.ToString();
    }
}
