using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Memvisor.Native;

/// <summary>What an attempt to take a file's lock found.</summary>
public enum LockAttempt
{
    /// <summary>The lock is this process's now, until the file is closed.</summary>
    Taken,
    /// <summary>Another open file (a running process) holds it.</summary>
    HeldElsewhere,
    /// <summary>The file system gives no locks (an NFS mount without a lock service, some FUSE file systems).</summary>
    Unsupported,
}

/// <summary>
/// flock(2) from libc, taken directly rather than through FileShare.None, which .NET skips silently when
/// DOTNET_SYSTEM_IO_DISABLEFILELOCKING is set or the file system refuses: whether a run is alive is read from this
/// lock, so it must be there or be known to be missing. The kernel drops it when the holder exits, however it exits.
/// </summary>
public static partial class FileLock
{
    private const string Library = "libc";
    private const int LockExclusive = 2, LockNonBlocking = 4;

    // int flock(int fd, int operation);
    [LibraryImport(Library, EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(SafeFileHandle fd, int operation);

    /// <summary>
    /// Opens <paramref name="path"/> for reading and tries its lock, as a later run asks whether the file's holder still
    /// lives. The open file comes back in <paramref name="file"/> (null when another holds the lock: .NET's own shared
    /// lock at open may already meet the holder's). Other failures to open throw, as opening does.
    /// </summary>
    public static LockAttempt OpenAndTryTake(string path, out SafeFileHandle? file)
    {
        try
        {
            file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        }
        catch (IOException e) when (e.HResult == Errno.EWOULDBLOCK)
        {
            file = null;
            return LockAttempt.HeldElsewhere;
        }
        var attempt = TryTake(file);
        if (attempt == LockAttempt.HeldElsewhere)
        {
            file.Dispose();
            file = null;
        }
        return attempt;
    }

    /// <summary>Tries to take the exclusive lock of the open file <paramref name="file"/> without waiting.</summary>
    public static LockAttempt TryTake(SafeFileHandle file)
    {
        while (true)
        {
            if (Flock(file, LockExclusive | LockNonBlocking) == 0) return LockAttempt.Taken;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Errno.EINTR) continue;
            return errno == Errno.EWOULDBLOCK ? LockAttempt.HeldElsewhere : LockAttempt.Unsupported;
        }
    }
}
