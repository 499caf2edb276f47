namespace Memvisor.Native;

/// <summary>Checks at start-up that every bound system library loads, so a missing one is a clear error and not a crash mid-run.</summary>
public static class NativeProbe
{
    public static void EnsureLoaded()
    {
        try
        {
            _ = XxHash.Hash64([1, 2, 3]);
        }
        catch (DllNotFoundException e)
        {
            throw new NativeLibraryMissingException("libxxhash.so.0", e);
        }
    }
}
