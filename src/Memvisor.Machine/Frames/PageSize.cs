namespace Memvisor.Machine.Frames;

/// <summary>x86 page geometry: 4 KiB frames, 512 entries per table page.</summary>
public static class PageSize
{
    public const int Shift = 12;
    public const int Bytes = 1 << Shift;
    public const int KiB = Bytes / 1024;

    public static long FromBytes(long bytes) => bytes >> Shift;
    public static long ToBytes(long pages) => pages << Shift;
    public static long ToKiB(long pages) => pages * KiB;
    public static long ToMiB(long pages) => pages >> (20 - Shift);
}
