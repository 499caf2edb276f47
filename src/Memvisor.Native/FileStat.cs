using System.Runtime.InteropServices;

namespace Memvisor.Native;

/// <summary>What a path names, as stat(2)'s file type says (symbolic links followed).</summary>
public enum FileKind
{
    Missing,
    Regular,
    Directory,
    CharacterDevice,
    BlockDevice,
    Fifo,
    Socket,
    /// <summary>The path exists but could not be looked at (permission denied, a name too long, a loop of links).</summary>
    Unknown,
}

/// <summary>
/// statx(2) from libc: the file type of a path, which .NET does not expose (it cannot tell a FIFO or a device from
/// a regular file), so inputs that would hang a reader or never end can be refused before they are opened.
/// </summary>
public static partial class FileStat
{
    private const string Library = "libc";
    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1, StatxNlink = 0x4;
    // struct statx is 256 bytes on every architecture; stx_nlink is the 32-bit field at byte 16, stx_mode the 16-bit one at 28.
    private const int StatxBytes = 256;
    private const int NlinkOffset = 16;
    private const int ModeOffset = 28;

    // int statx(int dirfd, const char* pathname, int flags, unsigned int mask, struct statx* statxbuf);
    [LibraryImport(Library, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, Span<byte> buffer);

    /// <summary>The kind of file at <paramref name="path"/>, following symbolic links.</summary>
    public static FileKind KindOf(string path)
    {
        if (string.IsNullOrEmpty(path) || path.Contains('\0')) return FileKind.Missing;
        Span<byte> buffer = stackalloc byte[StatxBytes];
        if (Statx(AtFdCwd, path, 0, StatxType, buffer) != 0)
            return Marshal.GetLastPInvokeError() is 2 or 20 or 36 ? FileKind.Missing : FileKind.Unknown;  // ENOENT, ENOTDIR, ENAMETOOLONG: nothing is there
        int mode = buffer[ModeOffset] | buffer[ModeOffset + 1] << 8;
        return (mode & 0xF000) switch
        {
            0x8000 => FileKind.Regular,
            0x4000 => FileKind.Directory,
            0x2000 => FileKind.CharacterDevice,
            0x6000 => FileKind.BlockDevice,
            0x1000 => FileKind.Fifo,
            0xC000 => FileKind.Socket,
            _ => FileKind.Unknown,
        };
    }

    // char* realpath(const char* path, char* resolved_path); with NULL it returns a buffer to free(3).
    [LibraryImport(Library, EntryPoint = "realpath", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint RealPathOf(string path, nint resolved);

    [LibraryImport(Library, EntryPoint = "free")]
    private static partial void Free(nint buffer);

    /// <summary>The path with every symbolic link on it resolved (realpath(3)), or null if it does not exist.</summary>
    public static string? RealPath(string path)
    {
        if (string.IsNullOrEmpty(path) || path.Contains('\0')) return null;
        nint buffer = RealPathOf(path, 0);
        if (buffer == 0) return null;
        try
        {
            return Marshal.PtrToStringUTF8(buffer);
        }
        finally
        {
            Free(buffer);
        }
    }

    /// <summary>How many names (hard links) the file at <paramref name="path"/> has; 0 if it cannot be looked at.</summary>
    public static long LinkCount(string path)
    {
        if (string.IsNullOrEmpty(path) || path.Contains('\0')) return 0;
        Span<byte> buffer = stackalloc byte[StatxBytes];
        if (Statx(AtFdCwd, path, 0, StatxNlink, buffer) != 0) return 0;
        return BitConverter.ToUInt32(buffer[NlinkOffset..]);
    }

    /// <summary>The kind as a noun phrase for a sentence: "a directory", "a FIFO (named pipe)".</summary>
    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.Missing => "missing",
        FileKind.Regular => "a regular file",
        FileKind.Directory => "a directory",
        FileKind.CharacterDevice => "a character device",
        FileKind.BlockDevice => "a block device",
        FileKind.Fifo => "a FIFO (named pipe)",
        FileKind.Socket => "a socket",
        _ => "a file that cannot be looked at",
    };

    /// <summary>
    /// Null when <paramref name="path"/> is a regular file that can be read whole; otherwise why not, as the end of a
    /// sentence ("is a directory, not a file", "does not exist").
    /// </summary>
    public static string? WhyNotRegular(string path)
    {
        var kind = KindOf(path);
        return kind switch
        {
            FileKind.Regular => null,
            FileKind.Missing => "does not exist",
            FileKind.Unknown => "cannot be looked at (permission denied, or a path that is not valid)",
            _ => $"is {Describe(kind)}, not a regular file",
        };
    }
}
