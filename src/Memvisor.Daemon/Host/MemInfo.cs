using System.Globalization;

namespace Memvisor.Daemon.Host;

/// <summary>The host's memory as /proc/meminfo gives it (Linux's Documentation/filesystems/proc.rst), in bytes.</summary>
public sealed record MemInfo(long TotalBytes, long FreeBytes, long AvailableBytes)
{
    /// <summary>Reads <paramref name="path"/>; a line that is missing or not "Name: N kB" is a sentence naming the file.</summary>
    public static MemInfo Read(string path = "/proc/meminfo")
    {
        var values = new Dictionary<string, long>();
        foreach (var line in File.ReadLines(path))
        {
            int colon = line.IndexOf(':');
            if (colon > 0) values[line[..colon]] = ParseKiB(line);
        }
        long Get(string key) => values.TryGetValue(key, out long v) && v >= 0 ? v * 1024
            : throw new InvalidDataException($"{path} has no readable {key} line.");
        return new MemInfo(Get("MemTotal"), Get("MemFree"), Get("MemAvailable"));
    }

    /// <summary>The number of kB on a "Name:   N kB" line, or -1.</summary>
    public static long ParseKiB(string line)
    {
        int colon = line.IndexOf(':');
        var rest = line.AsSpan(colon + 1).Trim();
        if (rest.EndsWith("kB", StringComparison.Ordinal)) rest = rest[..^2].TrimEnd();
        return long.TryParse(rest, NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v : -1;
    }
}
