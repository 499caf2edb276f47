namespace Memvisor.Guest.Workloads.Trace;

/// <summary>Reads a trace's records in order, a buffer at a time.</summary>
public interface ITraceReader : IDisposable
{
    /// <summary>Fills <paramref name="records"/> from the trace; returns how many were read, 0 at the end.</summary>
    int Read(Span<TraceRecord> records);

    /// <summary>Starts again from the first record.</summary>
    void Rewind();
}
