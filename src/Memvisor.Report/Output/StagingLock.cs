using Memvisor.Native;

namespace Memvisor.Report.Output;

/// <summary>What a later run finds of a staging file or marker.</summary>
public enum StagingState
{
    /// <summary>Not something Memvisor staged (missing, not a regular file, or without a process id in it).</summary>
    NotStaging,
    /// <summary>A running process holds it: its results are on their way.</summary>
    Live,
    /// <summary>Its process is gone (killed before it could clean up): what it staged may be removed.</summary>
    Dead,
}

/// <summary>
/// A file a run stages with (a staging directory's marker, or a staging file itself), held open under an exclusive
/// flock (<see cref="FileLock"/>, taken directly so no setting can skip it) for as long as the run lives. A later run tells a live writer from a dead one's leftovers
/// by trying the same lock, which the kernel releases when the holder exits however it exits, so neither a reused
/// process id nor the same pid in every container can mislead it.
/// </summary>
public sealed class StagingLock : IDisposable
{
    private readonly FileStream _file;

    private StagingLock(FileStream file) => _file = file;

    /// <summary>The open, locked file: a staging file is written through it.</summary>
    public FileStream Stream => _file;

    /// <summary>Creates <paramref name="path"/> (it must not exist), writes <paramref name="content"/> and keeps it locked.</summary>
    public static StagingLock Create(string path, ReadOnlySpan<byte> content)
    {
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        try
        {
            // Without the lock a later run would take this live run's files for a dead one's and remove them.
            if (FileLock.TryTake(file.SafeFileHandle) != LockAttempt.Taken)
            {
                file.Dispose();
                File.Delete(path);
                throw new IOException("the file system gives no file locks, which Memvisor needs to tell a running run's files from a dead one's; write to a local disk.");
            }
            file.Write(content);
            file.Flush();
            return new StagingLock(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Whether <paramref name="path"/> is a staging file or marker, and whether its run still lives.</summary>
    public static StagingState Check(string path, Func<string, bool>? isOurs = null)
    {
        if (new FileInfo(path).LinkTarget is not null || FileStat.KindOf(path) != FileKind.Regular) return StagingState.NotStaging;
        LockAttempt attempt;
        try
        {
            attempt = FileLock.OpenAndTryTake(path, out var file);
            file?.Dispose();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return StagingState.NotStaging;
        }
        // A file system without locks cannot say the run is dead, so what it staged is left alone.
        if (attempt != LockAttempt.Taken) return attempt == LockAttempt.HeldElsewhere ? StagingState.Live : StagingState.NotStaging;
        return isOurs is null || isOurs(path) ? StagingState.Dead : StagingState.NotStaging;
    }

    /// <summary>Releases the lock (closing the file).</summary>
    public void Dispose() => _file.Dispose();
}
