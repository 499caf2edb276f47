using Memvisor.Machine.Frames;
using Memvisor.Native;
using Microsoft.Win32.SafeHandles;

namespace Memvisor.Hypervisor.Paging;

/// <summary>
/// The hypervisor's swap file: a header page that marks it as Memvisor's, then page-sized slots written with pwrite
/// and read with pread. Slots are reused lowest first; the file never grows past its slot limit. Every page written
/// keeps its XXH3 checksum in memory, and a page read back is checked against it, so a device that returns wrong
/// bytes is caught (as EBADMSG) instead of being handed to a guest. Memvisor writes only a file it creates or one of
/// its own earlier swap files, never one in use, and never a device. Errors come back as errno values, never as
/// exceptions, so a full disk stops paging instead of the run.
/// </summary>
public sealed class SwapFile : IDisposable
{
    private const string TemporaryPrefix = "memvisor-";
    private const string TemporarySuffix = ".swap";

    private readonly ISwapDevice _device;
    private readonly Stack<long> _free = new();
    private const int ChecksumChunkBits = 16;
    private readonly string? _temporaryPath;
    // One checksum per slot written, in chunks of 65,536 made as slots are first used: memory follows use, not capacity.
    private ulong[]?[] _checksums = [];
    private long _highWater;
    private int _disposed;

    private SwapFile(ISwapDevice device, string name, long capacity, string? temporaryPath)
    {
        _device = device;
        Name = name;
        Capacity = capacity;
        _temporaryPath = temporaryPath;
        // A process that exits without unwinding (the deadline after an interrupt) still removes a temporary file.
        if (temporaryPath is not null) AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
    }

    // Only the name goes: the simulation may still be writing through the descriptor, which must stay valid.
    private void OnProcessExit(object? sender, EventArgs e) => TryDelete(_temporaryPath!);

    /// <summary>The first bytes of every swap file Memvisor writes.</summary>
    public static ReadOnlySpan<byte> Magic => "MEMVISOR-SWAP/1\n"u8;

    // What follows the magic in a temporary file's header: only such a file, under a name Memvisor made, is ever removed.
    private static ReadOnlySpan<byte> TemporaryMark => "temporary\n"u8;

    /// <summary>The file as messages name it: its path, or "the temporary swap file" (whose path changes every run, so it stays out of summaries).</summary>
    public string Name { get; }
    public long Capacity { get; }
    public long Used { get; private set; }
    public long BytesWritten { get; private set; }
    public long BytesRead { get; private set; }

    /// <summary>
    /// Null if <paramref name="path"/> may be used as a swap file (it does not exist yet in a directory that does, or
    /// it is an earlier Memvisor swap file no one is using); otherwise why not, as a sentence.
    /// </summary>
    public static string? WhyRefused(string path, string? name = null)
    {
        name ??= path;
        // A link would send the writes elsewhere (a dangling one would create its target): only the file itself is used.
        if (IsLink(path)) return $"The swap file {name} is a symbolic link; name the file itself (Memvisor never writes through a link).";
        var kind = FileStat.KindOf(path);
        switch (kind)
        {
            case FileKind.Missing:
                string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
                return directory is null || FileStat.KindOf(directory) == FileKind.Directory ? null
                    : $"The swap file {name} cannot be created: its directory does not exist.";
            case FileKind.Regular:
                if (FileStat.LinkCount(path) > 1)
                    return $"The swap file {name} has other names (hard links), which would lose their bytes too; name a file of its own.";
                return Examine(path).State switch
                {
                    SwapFileState.Ours => null,
                    SwapFileState.Locked => LockedMessage(name),
                    SwapFileState.Unreadable => $"The swap file {name} could not be read to see whose it is; Memvisor writes only its own swap files.",
                    SwapFileState.NoLocks => NoLocksMessage(name),
                    _ => $"The swap file {name} exists and is not a Memvisor swap file; Memvisor never overwrites a file it did not write. Name a new file, or remove this one.",
                };
            case FileKind.Unknown:
                return $"The swap file {name} cannot be looked at (permission denied, or a path that is not valid).";
            case FileKind.Directory:
                return $"The swap file {name} is a directory; a swap file must be a regular file. Name a file in it.";
            default:
                return $"The swap file {name} is {FileStat.Describe(kind)}; a swap file must be a regular file (Memvisor never writes to a device).";
        }
    }

    /// <summary>
    /// Opens the swap file at <paramref name="path"/>, or a new temporary one when it is null; null with a sentence in
    /// <paramref name="error"/> if it cannot be. <paramref name="name"/> is how messages name it (the path as the
    /// scenario wrote it, so summaries do not depend on where the scenario lies).
    /// </summary>
    public static SwapFile? TryOpen(string? path, long capacityPages, out string? error, string? name = null)
    {
        if (path is null) return TryOpenTemporary(capacityPages, out error);
        name ??= path;
        if (WhyRefused(path, name) is { } why)
        {
            error = why;
            return null;
        }
        SafeFileHandle? handle = null;
        try
        {
            // A new file is created only if still nothing is there (O_EXCL, which also fails on a link); an earlier one is
            // opened without truncating and locked first, so a file in use is never cut short.
            var mode = FileStat.KindOf(path) == FileKind.Missing ? FileMode.CreateNew : FileMode.Open;
            handle = File.OpenHandle(path, mode, FileAccess.ReadWrite, FileShare.None);
            if (FileLock.TryTake(handle) is not LockAttempt.Taken and var attempt)
            {
                handle.Dispose();
                if (mode == FileMode.CreateNew) TryDelete(path);
                error = attempt == LockAttempt.HeldElsewhere
                    ? LockedMessage(name)
                    : NoLocksMessage(name);
                return null;
            }
            var device = new FileSwapDevice(handle);
            if (RandomAccess.GetLength(handle) > 0 && !StartsWithMagic(device))
            {
                device.Dispose();
                error = $"The swap file {name} changed while it was opened and is not a Memvisor swap file; it was not written.";
                return null;
            }
            // The header first, then the old slots cut off: a crash in between still leaves a Memvisor swap file.
            int errno = WriteHeader(device, temporary: false);
            if (errno == 0) RandomAccess.SetLength(handle, PageSize.Bytes);
            if (errno != 0)
            {
                device.Dispose();
                error = $"The swap file {name} could not be written ({Errno.Describe(errno)}).";
                return null;
            }
            error = null;
            return new SwapFile(device, name, capacityPages, temporaryPath: null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            handle?.Dispose();
            error = $"The swap file {name} could not be opened for writing ({Describe(e)}).";
            return null;
        }
    }

    /// <summary>A swap file over <paramref name="device"/> (tests give faulty devices).</summary>
    public static SwapFile Over(ISwapDevice device, long capacityPages)
    {
        WriteHeader(device, temporary: false);
        return new SwapFile(device, "the test swap device", capacityPages, temporaryPath: null);
    }

    /// <summary>Removes temporary swap files that Memvisor processes which no longer run left in <paramref name="directory"/> (killed before they could).</summary>
    public static int RemoveStaleTemporaries(string directory)
    {
        List<string> candidates;
        try
        {
            candidates = Directory.EnumerateFiles(directory, TemporaryPrefix + "*" + TemporarySuffix).Where(IsTemporaryName).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
        int removed = 0;
        foreach (var file in candidates)
        {
            // A running Memvisor holds its swap file locked: one that opens unlocked, and is a Memvisor temporary, was left by a dead run.
            // An empty one was killed between its creation and its header: nothing is in it to lose.
            if (IsLink(file) || FileStat.KindOf(file) != FileKind.Regular || FileStat.LinkCount(file) != 1) continue;
            long length = new FileInfo(file).Length;
            if (length % PageSize.Bytes != 0) continue;
            var (state, temporary) = Examine(file);
            if (!(state == SwapFileState.Ours && temporary) && !(state == SwapFileState.NotOurs && length == 0)) continue;
            if (TryDelete(file)) removed++;
        }
        return removed;
    }

    private static SwapFile? TryOpenTemporary(long capacityPages, out string? error)
    {
        string directory = Path.GetTempPath();
        RemoveStaleTemporaries(directory);
        string path = Path.Combine(directory, $"{TemporaryPrefix}{Environment.ProcessId}-{Guid.NewGuid():N}{TemporarySuffix}");
        try
        {
            var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
            if (FileLock.TryTake(handle) != LockAttempt.Taken)
            {
                handle.Dispose();
                File.Delete(path);
                error = "The temporary swap file could not be locked: the temporary directory (TMPDIR) is on a file system that gives no file locks, which Memvisor needs to tell a running run's file from a dead one's.";
                return null;
            }
            var device = new FileSwapDevice(handle);
            int errno = WriteHeader(device, temporary: true);
            if (errno != 0)
            {
                device.Dispose();
                File.Delete(path);
                error = $"The temporary swap file could not be written ({Errno.Describe(errno)}).";
                return null;
            }
            error = null;
            return new SwapFile(device, "the temporary swap file", capacityPages, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = $"The temporary swap file could not be created in the temporary directory (TMPDIR): {Describe(e)}.";
            return null;
        }
    }

    /// <summary>A free slot, or -1 when the file holds its limit.</summary>
    public long Allocate()
    {
        long slot;
        if (_free.Count > 0) slot = _free.Pop();
        else if (_highWater < Capacity) slot = _highWater++;
        else return -1;
        Used++;
        return slot;
    }

    public void Free(long slot)
    {
        _free.Push(slot);
        Used--;
    }

    /// <summary>Writes a page to a slot and remembers its checksum; 0 or the errno.</summary>
    public int Write(long slot, ReadOnlySpan<byte> page)
    {
        page = page[..PageSize.Bytes];
        int errno = _device.WriteAt(page, Offset(slot));
        if (errno != 0) return errno;
        long chunk = slot >> ChecksumChunkBits;
        if (chunk >= _checksums.Length) Array.Resize(ref _checksums, (int)Math.Max(chunk + 1, 2L * _checksums.Length));
        (_checksums[chunk] ??= new ulong[1 << ChecksumChunkBits])[slot & ((1 << ChecksumChunkBits) - 1)] = XxHash.Hash64(page);
        BytesWritten += PageSize.Bytes;
        return 0;
    }

    /// <summary>Reads a page from a slot; 0, the errno, or EBADMSG when the bytes are not those written.</summary>
    public int Read(long slot, Span<byte> page)
    {
        page = page[..PageSize.Bytes];
        int errno = _device.ReadAt(page, Offset(slot));
        if (errno != 0) return errno;
        BytesRead += PageSize.Bytes;
        long chunk = slot >> ChecksumChunkBits;
        return chunk < _checksums.Length && _checksums[chunk] is { } sums && XxHash.Hash64(page) == sums[slot & ((1 << ChecksumChunkBits) - 1)]
            ? 0 : Errno.EBADMSG;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _device.Dispose();
        if (_temporaryPath is null) return;
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        TryDelete(_temporaryPath);
    }

    // Slot 0 follows the header page.
    private static long Offset(long slot) => (slot + 1) * PageSize.Bytes;

    private static int WriteHeader(ISwapDevice device, bool temporary)
    {
        var header = new byte[PageSize.Bytes];
        Magic.CopyTo(header);
        if (temporary) TemporaryMark.CopyTo(header.AsSpan(Magic.Length));
        return device.WriteAt(header, 0);
    }

    // memvisor-PID-GUID.swap, as TryOpenTemporary names it.
    private static bool IsTemporaryName(string path)
    {
        var name = Path.GetFileName(path.AsSpan());
        var middle = name[TemporaryPrefix.Length..^TemporarySuffix.Length];
        int dash = middle.IndexOf('-');
        return dash > 0 && int.TryParse(middle[..dash], System.Globalization.NumberStyles.None, null, out _)
            && middle[(dash + 1)..] is { Length: 32 } guid && !guid.ContainsAnyExcept("0123456789abcdef");
    }

    private static string LockedMessage(string name) =>
        $"The swap file {name} is locked by another process (a Memvisor run that uses it); give each run its own file.";

    private static string NoLocksMessage(string name) =>
        $"The swap file {name} is on a file system that gives no file locks, which Memvisor needs to keep two runs off one file; put it on a local disk.";

    private static bool IsLink(string path) => new FileInfo(path).LinkTarget is not null;

    private static bool StartsWithMagic(ISwapDevice device)
    {
        Span<byte> head = stackalloc byte[Magic.Length];
        return device.ReadAt(head, 0) == 0 && head.SequenceEqual(Magic);
    }

    private enum SwapFileState { Ours, Locked, NotOurs, Unreadable, NoLocks }

    // Whether the regular file at path starts as a Memvisor swap file does (and is a temporary one), and whether a
    // running Memvisor holds it: its flock, taken directly (FileLock), since .NET's can be switched off.
    private static (SwapFileState State, bool Temporary) Examine(string path)
    {
        try
        {
            var attempt = FileLock.OpenAndTryTake(path, out var file);
            using var handle = file;
            if (handle is null || attempt != LockAttempt.Taken) return (attempt == LockAttempt.HeldElsewhere ? SwapFileState.Locked : SwapFileState.NoLocks, false);
            Span<byte> head = stackalloc byte[Magic.Length + TemporaryMark.Length];
            int read = RandomAccess.Read(handle, head, 0);
            if (read < Magic.Length || !head[..Magic.Length].SequenceEqual(Magic)) return (SwapFileState.NotOurs, false);
            return (SwapFileState.Ours, read == head.Length && head[Magic.Length..].SequenceEqual(TemporaryMark));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (SwapFileState.Unreadable, false);
        }
    }

    private static bool TryDelete(string path)
    {
        try
        {
            File.Delete(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left behind, it is removed by the next run (RemoveStaleTemporaries).
            return false;
        }
    }

    // An I/O failure as words, with no path in it (the temporary file's path changes every run).
    private static string Describe(Exception e) => e switch
    {
        UnauthorizedAccessException => "permission denied",
        DirectoryNotFoundException => "the directory does not exist",
        FileNotFoundException => "no such file",
        PathTooLongException => "a name in the path is too long",
        _ when e.HResult is > 0 and < 4096 => Errno.Describe(e.HResult),
        _ => "an I/O error",
    };
}
