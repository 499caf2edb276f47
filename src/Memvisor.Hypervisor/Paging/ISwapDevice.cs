namespace Memvisor.Hypervisor.Paging;

/// <summary>
/// The storage under the hypervisor's swap file: whole pages read and written at byte offsets, an errno back instead
/// of an exception. The file on disk is the only device a scenario can name; tests put faulty devices here to show
/// that a device that fails or lies is caught.
/// </summary>
public interface ISwapDevice : IDisposable
{
    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/>; 0 or the errno.</summary>
    int WriteAt(ReadOnlySpan<byte> data, long offset);

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes at <paramref name="offset"/>; 0 or the errno (EIO for a short read).</summary>
    int ReadAt(Span<byte> buffer, long offset);
}
