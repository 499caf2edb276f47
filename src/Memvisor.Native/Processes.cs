using System.Runtime.InteropServices;

namespace Memvisor.Native;

/// <summary>kill(2) with signal 0 from libc: whether a process still exists, so files left by a dead run can be told from a live run's.</summary>
public static partial class Processes
{
    private const string Library = "libc";
    private const int Eperm = 1;

    // int kill(pid_t pid, int sig);
    [LibraryImport(Library, EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>True if a process with this id exists (one we may not signal counts: EPERM means it is there).</summary>
    public static bool IsAlive(int pid)
    {
        if (pid <= 0) return false;
        if (pid == Environment.ProcessId) return true;
        return Kill(pid, 0) == 0 || Marshal.GetLastPInvokeError() == Eperm;
    }
}
