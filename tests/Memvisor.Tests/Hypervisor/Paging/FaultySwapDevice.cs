using Memvisor.Hypervisor.Paging;

namespace Memvisor.Tests.Hypervisor.Paging;

/// <summary>How a <see cref="FaultySwapDevice"/> misbehaves.</summary>
public enum SwapFault
{
    /// <summary>A good device: reads return what was written.</summary>
    None,
    /// <summary>Every write fails with ENOSPC, as a full disk does.</summary>
    WritesFail,
    /// <summary>Writes succeed; every read fails with EIO (a swap file on /dev/null: reads come back short).</summary>
    ReadsFail,
    /// <summary>Writes succeed; reads return zeros (a swap file on /dev/zero).</summary>
    ReadsZero,
    /// <summary>Writes succeed; reads return the bytes with one bit flipped (a bad sector that escaped the disk's ECC).</summary>
    ReadsFlipped,
}

/// <summary>A swap device in memory that fails or lies the way real ones do, to show the pager catches each.</summary>
internal sealed class FaultySwapDevice(SwapFault fault) : ISwapDevice
{
    private const int Enospc = 28, Eio = 5;
    private readonly Dictionary<long, byte[]> _written = [];

    public SwapFault Fault { get; set; } = fault;
    public int Reads { get; private set; }

    public int WriteAt(ReadOnlySpan<byte> data, long offset)
    {
        if (Fault == SwapFault.WritesFail) return Enospc;
        _written[offset] = data.ToArray();
        return 0;
    }

    public int ReadAt(Span<byte> buffer, long offset)
    {
        Reads++;
        switch (Fault)
        {
            case SwapFault.ReadsFail:
                return Eio;
            case SwapFault.ReadsZero:
                buffer.Clear();
                return 0;
        }
        if (!_written.TryGetValue(offset, out var bytes)) return Eio;
        bytes.AsSpan(0, buffer.Length).CopyTo(buffer);
        if (Fault == SwapFault.ReadsFlipped) buffer[buffer.Length / 2] ^= 0x10;
        return 0;
    }

    public void Dispose()
    {
    }
}
