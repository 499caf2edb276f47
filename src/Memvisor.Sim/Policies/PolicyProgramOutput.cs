using System.Text;

namespace Memvisor.Sim.Policies;

/// <summary>
/// An external policy's stdout, read a line at a time with a cap on the line's length (a program that never ends its
/// line would otherwise fill the simulator's memory), and what is left after the line (a second line it should not have
/// written).
/// </summary>
internal sealed class PolicyProgramOutput(StreamReader reader, int maxChars)
{
    private readonly char[] _buffer = new char[8192];
    private int _start, _end;

    /// <summary>Characters read past the last line: the program answered more than once.</summary>
    public bool HasMore => _start < _end;

    /// <summary>The next line without its end; null at the end of the output with nothing before it.</summary>
    public async Task<string?> ReadLineAsync(CancellationToken cancel)
    {
        var line = new StringBuilder();
        while (true)
        {
            int nl = Array.IndexOf(_buffer, '\n', _start, _end - _start);
            if (nl >= 0)
            {
                line.Append(_buffer, _start, nl - _start);
                _start = nl + 1;
                return line.ToString().TrimEnd('\r');
            }
            line.Append(_buffer, _start, _end - _start);
            _start = _end = 0;
            if (line.Length > maxChars) throw new LineTooLongException();
            int n = await reader.ReadAsync(_buffer.AsMemory(), cancel);
            if (n == 0) return line.Length > 0 ? line.ToString() : null;
            _end = n;
        }
    }
}

internal sealed class LineTooLongException : Exception;
