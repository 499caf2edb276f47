using Memvisor.Guest.Mm;

namespace Memvisor.Guest.Workloads.Trace;

/// <summary>Reads the <see cref="BinaryTrace"/> format, decoding from a 64 KiB buffer without allocating.</summary>
public sealed class BinaryTraceReader : ITraceReader
{
    private readonly Stream _stream;
    private readonly string _name;
    private readonly byte[] _buffer = new byte[1 << 16];
    private int _pos, _len;
    private long _offset;
    private ulong _lastCode, _lastData;

    public BinaryTraceReader(Stream stream, string name)
    {
        _stream = stream;
        _name = name;
        Rewind();
    }

    public int Read(Span<TraceRecord> records)
    {
        int n = 0;
        while (n < records.Length)
        {
            // A record is at most 11 bytes; refill when fewer remain so that decoding never runs off the buffer.
            if (_len - _pos < 11 && !Refill() && _pos >= _len) break;
            byte head = _buffer[_pos++];
            var kind = (AccessKind)(head & 3);
            ulong zigzag = 0;
            int shift = 0;
            while (true)
            {
                if (_pos >= _len) throw new TraceFormatException($"{_name}: the trace ends inside a record at byte {_offset + _pos}.");
                byte b = _buffer[_pos++];
                zigzag |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) break;
                shift += 7;
                if (shift > 63) throw new TraceFormatException($"{_name}: the address at byte {_offset + _pos} is longer than 64 bits.");
            }
            long delta = (long)(zigzag >> 1) ^ -(long)(zigzag & 1);
            ref ulong last = ref kind == AccessKind.Instruction ? ref _lastCode : ref _lastData;
            last += (ulong)delta;
            records[n++] = new TraceRecord(kind, last, (byte)((head >> 2) + 1));
        }
        return n;
    }

    public void Rewind()
    {
        _stream.Seek(0, SeekOrigin.Begin);
        _pos = _len = 0;
        _offset = 0;
        _lastCode = _lastData = 0;
        Refill();
        if (!BinaryTrace.HasMagic(_buffer.AsSpan(0, _len)))
            throw new TraceFormatException($"{_name}: this is not a Memvisor binary trace (it does not start with MVTRACE1).");
        _pos = 8;
    }

    public void Dispose() => _stream.Dispose();

    private bool Refill()
    {
        int keep = _len - _pos;
        Buffer.BlockCopy(_buffer, _pos, _buffer, 0, keep);
        _offset += _pos;
        _pos = 0;
        _len = keep;
        int read;
        while (_len < _buffer.Length && (read = _stream.Read(_buffer, _len, _buffer.Length - _len)) > 0) _len += read;
        return _len > keep;
    }
}
