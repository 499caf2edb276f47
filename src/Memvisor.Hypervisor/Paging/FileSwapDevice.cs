using Memvisor.Native;
using Microsoft.Win32.SafeHandles;

namespace Memvisor.Hypervisor.Paging;

/// <summary>A swap device over an open file: pread and pwrite on its descriptor, which it owns and closes.</summary>
internal sealed class FileSwapDevice : ISwapDevice
{
    private readonly SafeFileHandle _handle;
    private readonly int _fd;

    public FileSwapDevice(SafeFileHandle handle)
    {
        _handle = handle;
        bool added = false;
        _handle.DangerousAddRef(ref added);
        _fd = (int)_handle.DangerousGetHandle();
    }

    public int WriteAt(ReadOnlySpan<byte> data, long offset) => PosixIo.WriteAt(_fd, data, offset);

    public int ReadAt(Span<byte> buffer, long offset) => PosixIo.ReadAt(_fd, buffer, offset);

    public void Dispose()
    {
        if (_handle.IsClosed) return;
        _handle.DangerousRelease();
        _handle.Dispose();
    }
}
