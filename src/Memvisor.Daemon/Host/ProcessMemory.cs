namespace Memvisor.Daemon.Host;

/// <summary>A process's resident memory, from the VmRSS line of /proc/PID/status (Linux's proc(5)).</summary>
public static class ProcessMemory
{
    public static long? ResidentBytes(int pid, string proc = "/proc")
    {
        try
        {
            foreach (var line in File.ReadLines(Path.Combine(proc, pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "status")))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) return MemInfo.ParseKiB(line) * 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }
}
