using System.Runtime.InteropServices;

namespace Memvisor.Native;

/// <summary>
/// kill(2) of a whole process group, for a program started as the leader of its own group (setsid(1)): what it forked
/// and left running, even once it has exited and its children were reparented, goes with it.
/// </summary>
public static partial class ProcessGroup
{
    private const int SigKill = 9;

    // int kill(pid_t pid, int sig); a negative pid names the process group.
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>Sends SIGKILL to every process of group <paramref name="leader"/>; false if there was none left (or it was not ours).</summary>
    public static bool KillAll(int leader) => leader > 1 && Kill(-leader, SigKill) == 0;
}
