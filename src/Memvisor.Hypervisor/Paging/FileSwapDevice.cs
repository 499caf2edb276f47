using Memvisor.Native;
using Microsoft.Win32.SafeHandles;

namespace Memvisor.Hypervisor.Paging;

/// <summary>A swap device over an open file: pread and pwrite on its descriptor, which it owns and closes.</summary>
internal sealed class FileSwapDevice : ISwapDevice
{
    private readonly SafeFileHandle _handle;

    public FileSwapDevice(SafeFileHandle handle) => _handle = handle;

    public int WriteAt(ReadOnlySpan<byte> data, long offset) => PosixIo.WriteAt(_handle, data, offset);

    public int ReadAt(Span<byte> buffer, long offset) => PosixIo.ReadAt(_handle, buffer, offset);

    public void Dispose() => _handle.Dispose();
}
