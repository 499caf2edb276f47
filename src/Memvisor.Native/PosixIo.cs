using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Memvisor.Native;

/// <summary>
/// pread(2) and pwrite(2) from libc on an open file's SafeFileHandle (the marshaller holds a reference across each
/// call, so a concurrent close cannot hand the descriptor to another file), returning errno instead of throwing: a
/// failed write on a hot path is a result, not an exception.
/// </summary>
public static partial class PosixIo
{
    private const string Library = "libc";

    // ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset);
    [LibraryImport(Library, EntryPoint = "pwrite", SetLastError = true)]
    private static partial nint PWrite(SafeFileHandle fd, ReadOnlySpan<byte> buffer, nuint count, long offset);

    // ssize_t pread(int fd, void* buf, size_t count, off_t offset);
    [LibraryImport(Library, EntryPoint = "pread", SetLastError = true)]
    private static partial nint PRead(SafeFileHandle fd, Span<byte> buffer, nuint count, long offset);

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/>; 0 on success, else the errno (ENOSPC 28 when the disk is full).</summary>
    public static int WriteAt(SafeFileHandle fd, ReadOnlySpan<byte> data, long offset)
    {
        while (!data.IsEmpty)
        {
            nint n = PWrite(fd, data, (nuint)data.Length, offset);
            if (n < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Errno.EINTR) continue;
                return errno;
            }
            if (n == 0) return Errno.ENOSPC;
            data = data[(int)n..];
            offset += n;
        }
        return 0;
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes at <paramref name="offset"/>; 0 on success, else the errno (EIO for a short read).</summary>
    public static int ReadAt(SafeFileHandle fd, Span<byte> buffer, long offset)
    {
        while (!buffer.IsEmpty)
        {
            nint n = PRead(fd, buffer, (nuint)buffer.Length, offset);
            if (n < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Errno.EINTR) continue;
                return errno;
            }
            if (n == 0) return Errno.EIO;
            buffer = buffer[(int)n..];
            offset += n;
        }
        return 0;
    }
}
