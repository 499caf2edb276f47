using Memvisor.Native;
using Microsoft.Win32.SafeHandles;

namespace Memvisor.Sim.Toolstack;

/// <summary>
/// A run's own directory for save images, under the system's temporary directory (memvisor-save-XXXXXX). The run holds
/// the lock of its <c>.lock</c> file while it lives, so that a later run can tell a directory left by a run that was
/// killed (its lock free) from a running one's, and remove it; it removes nothing else: only directories of that name
/// holding nothing but the lock file and image files.
/// </summary>
public sealed class SaveDirectory : IDisposable
{
    private const string Prefix = "memvisor-save-", LockName = ".lock", ImageSuffix = ".xlsave";
    private readonly SafeFileHandle _lock;

    private SaveDirectory(string path, SafeFileHandle held) => (Path, _lock) = (path, held);

    public string Path { get; }

    /// <summary>Makes the directory and takes its lock, after removing what dead runs left. Throws IOException or UnauthorizedAccessException as the file system does.</summary>
    public static SaveDirectory Create()
    {
        RemoveStale(System.IO.Path.GetTempPath());
        string path = Directory.CreateTempSubdirectory(Prefix).FullName;
        var held = File.OpenHandle(System.IO.Path.Combine(path, LockName), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        // Without locks (some network file systems) the directory is still the run's; only its stale-removal is lost.
        FileLock.TryTake(held);
        return new SaveDirectory(path, held);
    }

    public string ImagePath(int column) => System.IO.Path.Combine(Path, $"{column}{ImageSuffix}");

    public void Dispose()
    {
        _lock.Dispose();
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for the next run's stale-removal.
        }
    }

    /// <summary>Removes the save directories of runs that are no longer running; returns how many.</summary>
    public static int RemoveStale(string temp)
    {
        int removed = 0;
        try
        {
            foreach (string dir in Directory.EnumerateDirectories(temp, Prefix + "*"))
                if (IsStale(dir)) removed += RemoveOurs(dir) ? 1 : 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A temporary directory that cannot be listed has nothing this run can clean.
        }
        return removed;
    }

    // The directory's lock can be taken (its run is gone), or it has no lock file and nothing in it (killed at birth).
    private static bool IsStale(string dir)
    {
        if (new DirectoryInfo(dir).LinkTarget is not null || FileStat.KindOf(dir) != FileKind.Directory) return false;
        string lockPath = System.IO.Path.Combine(dir, LockName);
        if (!File.Exists(lockPath)) return !Directory.EnumerateFileSystemEntries(dir).Any();
        if (new FileInfo(lockPath).LinkTarget is not null || FileStat.KindOf(lockPath) != FileKind.Regular) return false;
        var attempt = FileLock.OpenAndTryTake(lockPath, out var file);
        file?.Dispose();
        return attempt == LockAttempt.Taken;
    }

    // Deletes the lock file and the images, then the directory; anything else in it leaves it all in place.
    private static bool RemoveOurs(string dir)
    {
        var entries = Directory.EnumerateFileSystemEntries(dir).ToList();
        bool ours = entries.All(e => new FileInfo(e).LinkTarget is null && FileStat.KindOf(e) == FileKind.Regular
            && (System.IO.Path.GetFileName(e) == LockName || System.IO.Path.GetFileName(e).EndsWith(ImageSuffix, StringComparison.Ordinal)));
        if (!ours) return false;
        foreach (string e in entries) File.Delete(e);
        Directory.Delete(dir);
        return true;
    }
}
