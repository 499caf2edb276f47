using Memvisor.Guest.Mm;

namespace Memvisor.Guest.Workloads.Trace;

/// <summary>
/// Reads the text that <c>valgrind --tool=lackey --trace-mem=yes</c> writes: <c>I  addr,size</c> for an
/// instruction fetch and <c> L</c>, <c> S</c>, <c> M</c> for loads, stores and modifies, addresses in hex. Lines
/// from Valgrind itself (<c>==pid== ...</c>) and blank lines are skipped. Parses bytes directly, not strings.
/// </summary>
public sealed class LackeyTraceReader : ITraceReader
{
    private readonly Stream _stream;
    private readonly string _name;
    private readonly byte[] _buffer = new byte[1 << 16];
    private int _pos, _len;
    private long _line;

    public LackeyTraceReader(Stream stream, string name)
    {
        _stream = stream;
        _name = name;
    }

    public int Read(Span<TraceRecord> records)
    {
        int n = 0;
        while (n < records.Length && TryReadLine(out var line))
            if (TryParse(line, out var record)) records[n++] = record;
        return n;
    }

    public void Rewind()
    {
        _stream.Seek(0, SeekOrigin.Begin);
        _pos = _len = 0;
        _line = 0;
    }

    public void Dispose() => _stream.Dispose();

    private bool TryParse(ReadOnlySpan<byte> line, out TraceRecord record)
    {
        record = default;
        int i = 0;
        while (i < line.Length && line[i] == (byte)' ') i++;
        if (i >= line.Length || line[i] == (byte)'=' || line[i] == (byte)'\r') return false;
        AccessKind kind = line[i] switch
        {
            (byte)'I' => AccessKind.Instruction,
            (byte)'L' => AccessKind.Load,
            (byte)'S' => AccessKind.Store,
            (byte)'M' => AccessKind.Modify,
            _ => throw Bad("the line does not start with I, L, S or M"),
        };
        i++;
        while (i < line.Length && line[i] == (byte)' ') i++;
        ulong address = 0;
        int digits = 0;
        for (; i < line.Length && line[i] != (byte)','; i++, digits++)
        {
            int v = HexValue(line[i]);
            if (v < 0 || digits >= 16) throw Bad("the address is not a hexadecimal number of at most 16 digits");
            address = (address << 4) | (uint)v;
        }
        if (digits == 0 || i >= line.Length) throw Bad("the line has no 'address,size'");
        i++;
        int size = 0;
        for (; i < line.Length && line[i] is >= (byte)'0' and <= (byte)'9'; i++) size = Math.Min(size * 10 + line[i] - '0', 1_000_000);
        if (size == 0) throw Bad("the access size is missing or zero");
        record = new TraceRecord(kind, address, (byte)Math.Min(size, 64));
        return true;
    }

    private static int HexValue(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };

    private TraceFormatException Bad(string why) => new($"{_name}:{_line}: this is not a lackey trace line: {why}.");

    // _line counts the lines returned so far: the one being read is the next.
    private TraceFormatException TooLong() => new($"{_name}:{_line + 1}: this is not a lackey trace line: it is longer than {_buffer.Length / 1024} KiB.");

    private bool TryReadLine(out ReadOnlySpan<byte> line)
    {
        while (true)
        {
            int nl = _buffer.AsSpan(_pos, _len - _pos).IndexOf((byte)'\n');
            if (nl >= 0)
            {
                line = _buffer.AsSpan(_pos, nl);
                _pos += nl + 1;
                _line++;
                return true;
            }
            if (_pos > 0)
            {
                Buffer.BlockCopy(_buffer, _pos, _buffer, 0, _len - _pos);
                _len -= _pos;
                _pos = 0;
            }
            if (_len == _buffer.Length) throw TooLong();
            int read = _stream.Read(_buffer, _len, _buffer.Length - _len);
            if (read == 0)
            {
                line = _buffer.AsSpan(0, _len);
                bool any = _len > 0;
                _pos = _len = 0;
                if (any) _line++;
                return any;
            }
            _len += read;
        }
    }
}
