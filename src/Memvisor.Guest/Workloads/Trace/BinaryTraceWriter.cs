using Memvisor.Guest.Mm;

namespace Memvisor.Guest.Workloads.Trace;

/// <summary>Writes records in the <see cref="BinaryTrace"/> format; it owns the stream and closes it when disposed.</summary>
public sealed class BinaryTraceWriter : IDisposable
{
    private readonly Stream _out;
    private readonly byte[] _buffer = new byte[1 << 16];
    private int _len;
    private ulong _lastCode, _lastData;

    public BinaryTraceWriter(Stream output)
    {
        _out = output;
        BinaryTrace.Magic.CopyTo(_buffer);
        _len = 8;
    }

    public long Records { get; private set; }

    public void Write(in TraceRecord r)
    {
        if (_len > _buffer.Length - 16) Flush();
        _buffer[_len++] = (byte)((int)r.Kind | ((Math.Clamp((int)r.Size, 1, 64) - 1) << 2));
        ref ulong last = ref r.Kind == AccessKind.Instruction ? ref _lastCode : ref _lastData;
        long delta = (long)(r.Address - last);
        last = r.Address;
        ulong zigzag = (ulong)((delta << 1) ^ (delta >> 63));
        while (zigzag >= 0x80)
        {
            _buffer[_len++] = (byte)(zigzag | 0x80);
            zigzag >>= 7;
        }
        _buffer[_len++] = (byte)zigzag;
        Records++;
    }

    public void Flush()
    {
        _out.Write(_buffer, 0, _len);
        _len = 0;
    }

    public void Dispose()
    {
        Flush();
        _out.Dispose();
    }
}
