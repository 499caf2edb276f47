using System.CommandLine;

namespace Memvisor.Cli.Commands;

/// <summary>--threads: how many guests of a tick step at once. Results never depend on it; only the wall time does.</summary>
public static class ThreadsOption
{
    // More lanes than this gain nothing on any machine Memvisor targets and only cost threads.
    private const int Most = 256;

    public static Option<int?> Create() => new("--threads")
    {
        Description = "How many guests step at once, on that many cores; the results are the same for any number. Default: the machine's cores.",
        CustomParser = result =>
        {
            string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (int.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out int n)) return n;
            result.AddError($"--threads: '{text}' is not a whole number of threads; give 1 to {Most}.");
            return null;
        },
    };

    /// <summary>True if <paramref name="threads"/> can be used; else says why on stderr (the caller exits 2).</summary>
    public static bool Check(int threads)
    {
        if (threads is >= 1 and <= Most) return true;
        Console.Error.WriteLine($"memvisor: --threads: {threads} is not a number of threads to step guests on; give 1 to {Most}. Nothing was run.");
        return false;
    }
}
