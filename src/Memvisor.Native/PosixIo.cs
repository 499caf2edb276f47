using System.Runtime.InteropServices;

namespace Memvisor.Native;

/// <summary>pread(2) and pwrite(2) from libc, returning errno instead of throwing: a failed write on a hot path is a result, not an exception.</summary>
public static partial class PosixIo
{
    private const string Library = "libc";

    // ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset);
    [LibraryImport(Library, EntryPoint = "pwrite", SetLastError = true)]
    private static partial nint PWrite(int fd, ReadOnlySpan<byte> buffer, nuint count, long offset);

    // ssize_t pread(int fd, void* buf, size_t count, off_t offset);
    [LibraryImport(Library, EntryPoint = "pread", SetLastError = true)]
    private static partial nint PRead(int fd, Span<byte> buffer, nuint count, long offset);

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/>; 0 on success, else the errno (ENOSPC 28 when the disk is full).</summary>
    public static int WriteAt(int fd, ReadOnlySpan<byte> data, long offset)
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
    public static int ReadAt(int fd, Span<byte> buffer, long offset)
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

    /// <summary>The errno values Memvisor names.</summary>
    public static class Errno
    {
        public const int EINTR = 4;
        public const int EWOULDBLOCK = 11;
        public const int EIO = 5;
        public const int ENOSPC = 28;
        /// <summary>A bad message: what Linux file systems return for a checksum that does not match (EFSBADCRC).</summary>
        public const int EBADMSG = 74;

        public static string Describe(int errno) => errno switch
        {
            EIO => "an I/O error (EIO)",
            ENOSPC => "no space left on the device (ENOSPC)",
            EBADMSG => "bytes that differ from those written (checksum mismatch)",
            2 => "no such file or directory (ENOENT)",
            13 => "permission denied (EACCES)",
            20 => "a path component that is not a directory (ENOTDIR)",
            30 => "a read-only file system (EROFS)",
            36 => "a file name too long (ENAMETOOLONG)",
            _ => $"errno {errno}",
        };
    }
}
