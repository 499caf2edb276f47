namespace Memvisor.Native;

/// <summary>Checks at start-up that every bound system library loads, so a missing one is a clear error and not a crash mid-run.</summary>
public static class NativeProbe
{
    public static void EnsureLoaded()
    {
        Probe("liblz4.so.1", () => Lz4.Compress(new byte[16], new byte[64]));
        // statx (glibc 2.28) tells FIFOs and devices from files; without it no input could be checked.
        // A sandbox that refuses statx (EPERM) would make every path "cannot be looked at": say so once, here.
        Probe("libc (statx)", () => FileStat.KindOf("/") == FileKind.Directory ? 0 : throw new EntryPointNotFoundException("statx gives no answer for /"));
        Probe("libzstd.so.1", () =>
        {
            using var z = new Zstd();
            return z.Compress(new byte[16], new byte[64]);
        });
    }

    private static void Probe<T>(string library, Func<T> call)
    {
        try
        {
            _ = call();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            throw new NativeLibraryMissingException(library, e);
        }
    }
}
