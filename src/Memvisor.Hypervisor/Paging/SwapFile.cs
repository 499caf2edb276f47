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
    private readonly string? _temporaryPath;
    private ulong[] _checksums = [];
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

    private void OnProcessExit(object? sender, EventArgs e) => Dispose();

    /// <summary>The first bytes of every swap file Memvisor writes.</summary>
    public static ReadOnlySpan<byte> Magic => "MEMVISOR-SWAP/1\n"u8;

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
    public static string? WhyRefused(string path)
    {
        var kind = FileStat.KindOf(path);
        switch (kind)
        {
            case FileKind.Missing:
                string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
                return directory is null || FileStat.KindOf(directory) == FileKind.Directory ? null
                    : $"The swap file {path} cannot be created: its directory {directory} does not exist.";
            case FileKind.Regular:
                return IsMemvisorSwap(path, out bool inUse)
                    ? inUse ? $"The swap file {path} is locked by another process (a Memvisor run that uses it); give each run its own file." : null
                    : $"The swap file {path} exists and is not a Memvisor swap file; Memvisor never overwrites a file it did not write. Name a new file, or remove this one.";
            case FileKind.Unknown:
                return $"The swap file {path} cannot be looked at (permission denied, or a path that is not valid).";
            default:
                return $"The swap file {path} is {FileStat.Describe(kind)}; a swap file must be a regular file (Memvisor never writes to a device).";
        }
    }

    /// <summary>Opens the named swap file, or a new temporary one when <paramref name="path"/> is null; null with a sentence in <paramref name="error"/> if it cannot be.</summary>
    public static SwapFile? TryOpen(string? path, long capacityPages, out string? error)
    {
        if (path is null) return TryOpenTemporary(capacityPages, out error);
        if (WhyRefused(path) is { } why)
        {
            error = why;
            return null;
        }
        SafeFileHandle? handle = null;
        try
        {
            // Opened without truncating and locked first (FileShare.None takes flock), so a file in use is never cut short.
            handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            var device = new FileSwapDevice(handle);
            if (RandomAccess.GetLength(handle) > 0 && !StartsWithMagic(device))
            {
                device.Dispose();
                error = $"The swap file {path} changed while it was opened and is not a Memvisor swap file; it was not written.";
                return null;
            }
            RandomAccess.SetLength(handle, 0);
            int errno = WriteHeader(device);
            if (errno != 0)
            {
                device.Dispose();
                error = $"The swap file {path} could not be written ({PosixIo.Errno.Describe(errno)}).";
                return null;
            }
            error = null;
            return new SwapFile(device, path, capacityPages, temporaryPath: null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            handle?.Dispose();
            error = $"The swap file {path} could not be opened for writing ({Describe(e)}).";
            return null;
        }
    }

    /// <summary>A swap file over <paramref name="device"/> (tests give faulty devices).</summary>
    public static SwapFile Over(ISwapDevice device, long capacityPages)
    {
        WriteHeader(device);
        return new SwapFile(device, "the test swap device", capacityPages, temporaryPath: null);
    }

    /// <summary>Removes temporary swap files that Memvisor processes which no longer run left in <paramref name="directory"/> (killed before they could).</summary>
    public static int RemoveStaleTemporaries(string directory)
    {
        int removed = 0;
        try
        {
            foreach (var file in Directory.EnumerateFiles(directory, TemporaryPrefix + "*" + TemporarySuffix))
            {
                string name = Path.GetFileName(file);
                int dash = name.IndexOf('-', TemporaryPrefix.Length);
                if (dash < 0 || !int.TryParse(name.AsSpan(TemporaryPrefix.Length, dash - TemporaryPrefix.Length), out int pid) || Processes.IsAlive(pid)) continue;
                if (FileStat.KindOf(file) != FileKind.Regular || !IsMemvisorSwap(file, out bool inUse) || inUse) continue;
                File.Delete(file);
                removed++;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A directory we cannot list or a file we cannot remove stops nothing.
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
            var device = new FileSwapDevice(File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None));
            int errno = WriteHeader(device);
            if (errno != 0)
            {
                device.Dispose();
                File.Delete(path);
                error = $"The temporary swap file could not be written ({PosixIo.Errno.Describe(errno)}).";
                return null;
            }
            error = null;
            return new SwapFile(device, "the temporary swap file", capacityPages, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = $"The temporary swap file could not be created in {directory} ({Describe(e)}).";
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
        if (slot >= _checksums.Length) Array.Resize(ref _checksums, (int)Math.Min(Math.Max(Capacity, 1), Math.Max(1024, 2L * _checksums.Length)));
        _checksums[slot] = XxHash.Hash64(page);
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
        return slot < _checksums.Length && XxHash.Hash64(page) == _checksums[slot] ? 0 : PosixIo.Errno.EBADMSG;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _device.Dispose();
        if (_temporaryPath is null) return;
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        try
        {
            File.Delete(_temporaryPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left behind, it is removed by the next run (RemoveStaleTemporaries).
        }
    }

    // Slot 0 follows the header page.
    private static long Offset(long slot) => (slot + 1) * PageSize.Bytes;

    private static int WriteHeader(ISwapDevice device)
    {
        var header = new byte[PageSize.Bytes];
        Magic.CopyTo(header);
        return device.WriteAt(header, 0);
    }

    private static bool StartsWithMagic(ISwapDevice device)
    {
        Span<byte> head = stackalloc byte[Magic.Length];
        return device.ReadAt(head, 0) == 0 && head.SequenceEqual(Magic);
    }

    // Whether the regular file at path starts as a Memvisor swap file does, and whether a running Memvisor holds it.
    private static bool IsMemvisorSwap(string path, out bool inUse)
    {
        inUse = false;
        try
        {
            // FileShare.None takes the same lock a running swap file holds, so this open fails while one does.
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.None);
            Span<byte> head = stackalloc byte[Magic.Length];
            return RandomAccess.Read(handle, head, 0) == Magic.Length && head.SequenceEqual(Magic);
        }
        catch (IOException)
        {
            inUse = true;
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static string Describe(Exception e) =>
        e is UnauthorizedAccessException ? "permission denied"
        : e.HResult is > 0 and < 4096 ? PosixIo.Errno.Describe(e.HResult)
        : e.GetType().Name;
}
