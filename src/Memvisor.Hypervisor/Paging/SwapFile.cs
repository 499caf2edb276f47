using Memvisor.Machine.Frames;
using Memvisor.Native;
using Microsoft.Win32.SafeHandles;

namespace Memvisor.Hypervisor.Paging;

/// <summary>
/// The hypervisor's swap file: page-sized slots written with pwrite and read with pread. Slots are reused lowest
/// first; the file never grows past its slot limit. Errors come back as errno values, never as exceptions, so a
/// full disk stops paging instead of the run.
/// </summary>
public sealed class SwapFile : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly int _fd;
    private readonly Stack<long> _free = new();
    private readonly bool _temporary;
    private long _highWater;

    private SwapFile(string path, SafeFileHandle handle, long capacity, bool temporary)
    {
        Path = path;
        _handle = handle;
        bool added = false;
        _handle.DangerousAddRef(ref added);
        _fd = (int)_handle.DangerousGetHandle();
        Capacity = capacity;
        _temporary = temporary;
    }

    public string Path { get; }
    public long Capacity { get; }
    public long Used { get; private set; }
    public long BytesWritten { get; private set; }
    public long BytesRead { get; private set; }

    /// <summary>Opens (creating or truncating) the swap file; null with a sentence in <paramref name="error"/> if it cannot be opened.</summary>
    public static SwapFile? TryOpen(string? path, long capacityPages, out string? error)
    {
        bool temporary = path is null;
        path ??= System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"memvisor-{Environment.ProcessId}-{Guid.NewGuid():N}.swap");
        try
        {
            var mode = path.StartsWith("/dev/", StringComparison.Ordinal) ? FileMode.Open : FileMode.Create;
            var handle = File.OpenHandle(path, mode, FileAccess.ReadWrite, FileShare.None);
            error = null;
            return new SwapFile(path, handle, capacityPages, temporary);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            error = $"The swap file {path} could not be opened for writing: {e.Message}";
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

    /// <summary>Writes a page to a slot; 0 or the errno.</summary>
    public int Write(long slot, ReadOnlySpan<byte> page)
    {
        int errno = PosixIo.WriteAt(_fd, page[..PageSize.Bytes], slot * PageSize.Bytes);
        if (errno == 0) BytesWritten += PageSize.Bytes;
        return errno;
    }

    /// <summary>Reads a page from a slot; 0 or the errno.</summary>
    public int Read(long slot, Span<byte> page)
    {
        int errno = PosixIo.ReadAt(_fd, page[..PageSize.Bytes], slot * PageSize.Bytes);
        if (errno == 0) BytesRead += PageSize.Bytes;
        return errno;
    }

    public void Dispose()
    {
        if (_handle.IsClosed) return;
        _handle.DangerousRelease();
        _handle.Dispose();
        if (_temporary) File.Delete(Path);
    }
}
