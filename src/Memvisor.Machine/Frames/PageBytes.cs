namespace Memvisor.Machine.Frames;

/// <summary>Tests on a page's bytes shared by every mechanism that reads them.</summary>
public static class PageBytes
{
    /// <summary>Whether every byte of <paramref name="page"/> is zero: the test KSM, the sharing scanner and the pager make before hashing or writing a page.</summary>
    public static bool IsZero(ReadOnlySpan<byte> page) => page.IndexOfAnyExcept((byte)0) < 0;
}
