namespace Memvisor.Native;

/// <summary>The errno values Memvisor names (Linux's asm-generic/errno-base.h and errno.h), and each as a phrase for a sentence.</summary>
public static class Errno
{
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int EWOULDBLOCK = 11;
    public const int EACCES = 13;
    public const int ENOTDIR = 20;
    public const int ENOSPC = 28;
    public const int EROFS = 30;
    public const int ENAMETOOLONG = 36;
    /// <summary>A bad message: what Linux file systems return for a checksum that does not match (EFSBADCRC).</summary>
    public const int EBADMSG = 74;

    public static string Describe(int errno) => errno switch
    {
        EIO => "an I/O error (EIO)",
        ENOSPC => "no space left on the device (ENOSPC)",
        EBADMSG => "bytes that differ from those written (checksum mismatch)",
        ENOENT => "no such file or directory (ENOENT)",
        EACCES => "permission denied (EACCES)",
        ENOTDIR => "a path component that is not a directory (ENOTDIR)",
        EROFS => "a read-only file system (EROFS)",
        ENAMETOOLONG => "a file name too long (ENAMETOOLONG)",
        _ => $"errno {errno}",
    };
}
