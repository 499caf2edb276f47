namespace Memvisor.Tests.Support;

/// <summary>
/// Runs a command's action with the console's output and error captured. Tests that use it join the "Console"
/// collection, so that no two of them swap the process's console at once.
/// </summary>
internal static class ConsoleCapture
{
    public const string Collection = "Console";

    public static (int Code, string Out, string Err) Run(Func<int> run)
    {
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        Console.SetOut(o);
        Console.SetError(e);
        try
        {
            return (run(), o.ToString(), e.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }
}
