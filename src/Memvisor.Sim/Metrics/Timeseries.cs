namespace Memvisor.Sim.Metrics;

/// <summary>Host and per-domain memory sampled over simulated time; a missing value (domain not running) is null.</summary>
public sealed class Timeseries(IReadOnlyList<string> columns)
{
    private readonly List<(long TimeNs, long?[] Values)> _rows = [];

    public IReadOnlyList<string> Columns { get; } = columns;
    public IReadOnlyList<(long TimeNs, long?[] Values)> Rows => _rows;

    public void Add(long timeNs, long?[] values)
    {
        if (values.Length != Columns.Count)
            throw new ArgumentException($"A row needs {Columns.Count} values, not {values.Length}.", nameof(values));
        _rows.Add((timeNs, values));
    }
}
