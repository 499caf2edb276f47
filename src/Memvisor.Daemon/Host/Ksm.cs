using System.Globalization;

namespace Memvisor.Daemon.Host;

/// <summary>
/// Linux KSM through its sysfs directory (Documentation/admin-guide/mm/ksm.rst): whether it runs, its pages to scan
/// and sleep between scans (so its rate in pages per second), and what it shares. Setting a rate writes pages_to_scan
/// and run, as MOM's KSM controller does; it needs root.
/// </summary>
public sealed class Ksm(string directory = "/sys/kernel/mm/ksm")
{
    public string Directory => directory;

    /// <summary>Whether this kernel has KSM.</summary>
    public bool Present => File.Exists(Path.Combine(directory, "run"));

    /// <summary>The counters now, or null without KSM or where they cannot be read.</summary>
    public KsmReading? Read()
    {
        try
        {
            if (!Present) return null;
            return new KsmReading(Value("run") == 1, Value("pages_to_scan"), Value("sleep_millisecs"), Value("pages_shared"), Value("pages_sharing"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>Sets KSM to scan <paramref name="pagesPerSecond"/> at its current sleep (0 stops it: run = 0); an IOException or UnauthorizedAccessException where it cannot.</summary>
    public void SetRate(double pagesPerSecond)
    {
        long sleep = Math.Max(1, Value("sleep_millisecs"));
        if (pagesPerSecond <= 0)
        {
            Write("run", 0);
            return;
        }
        Write("pages_to_scan", Math.Max(1, (long)Math.Round(pagesPerSecond * sleep / 1000.0)));
        Write("run", 1);
    }

    private long Value(string name) =>
        long.Parse(File.ReadAllText(Path.Combine(directory, name)).Trim(), NumberStyles.None, CultureInfo.InvariantCulture);

    private void Write(string name, long value) =>
        File.WriteAllText(Path.Combine(directory, name), value.ToString(CultureInfo.InvariantCulture));
}

/// <summary>KSM's state: running or not, pages per scan, ms between scans, pages shared (kept) and sharing (mapped to them).</summary>
public sealed record KsmReading(bool Running, long PagesToScan, long SleepMs, long PagesShared, long PagesSharing)
{
    /// <summary>Pages scanned per second: pages_to_scan every sleep_millisecs while it runs.</summary>
    public double PagesPerSecond => Running && SleepMs > 0 ? PagesToScan * 1000.0 / SleepMs : 0;
}
