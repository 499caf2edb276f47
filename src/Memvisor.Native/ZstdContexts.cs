using System.Runtime.InteropServices;

namespace Memvisor.Native;

/// <summary>A ZSTD_CCtx*: freed by ZSTD_freeCCtx when released, however its owner ends.</summary>
internal sealed partial class ZstdCompressionContext : SafeHandle
{
    public ZstdCompressionContext() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    [LibraryImport(Zstd.Library, EntryPoint = "ZSTD_createCCtx")]
    internal static partial ZstdCompressionContext Create();

    [LibraryImport(Zstd.Library, EntryPoint = "ZSTD_freeCCtx")]
    private static partial nuint Free(nint cctx);

    protected override bool ReleaseHandle()
    {
        Free(handle);
        return true;
    }
}

/// <summary>A ZSTD_DCtx*: freed by ZSTD_freeDCtx when released.</summary>
internal sealed partial class ZstdDecompressionContext : SafeHandle
{
    public ZstdDecompressionContext() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    [LibraryImport(Zstd.Library, EntryPoint = "ZSTD_createDCtx")]
    internal static partial ZstdDecompressionContext Create();

    [LibraryImport(Zstd.Library, EntryPoint = "ZSTD_freeDCtx")]
    private static partial nuint Free(nint dctx);

    protected override bool ReleaseHandle()
    {
        Free(handle);
        return true;
    }
}
