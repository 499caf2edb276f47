namespace Memvisor.Sim.Metrics;

/// <summary>
/// Host and per-domain memory sampled over simulated time; a missing value (domain not running) is null. At most
/// <see cref="MaxRows"/> rows are kept (<see cref="Decimated{T}"/>: evenly spaced, the last always), so a long run's
/// memory and report stay bounded.
/// </summary>
public sealed class Timeseries(IReadOnlyList<string> columns, int maxRows = Timeseries.DefaultMaxRows)
{
    /// <summary>8192 rows: two hours and a quarter at the default sample of 1 s before any is dropped.</summary>
    public const int DefaultMaxRows = 8192;

    private readonly Decimated<(long TimeNs, long?[] Values)> _rows = new(maxRows);

    public IReadOnlyList<string> Columns { get; } = columns;
    public IReadOnlyList<(long TimeNs, long?[] Values)> Rows => _rows.Items;
    public int MaxRows => _rows.Capacity;

    /// <summary>Samples offered per row kept (1 until the series first fills, then 2, 4, ...).</summary>
    public long Stride => _rows.Stride;

    /// <summary>Offers a sample; it is kept if it falls on the stride, or if <paramref name="last"/> (the run's final sample).</summary>
    public void Add(long timeNs, long?[] values, bool last = false)
    {
        if (values.Length != Columns.Count)
            throw new ArgumentException($"A row needs {Columns.Count} values, not {values.Length}.", nameof(values));
        _rows.Add((timeNs, values), last);
    }
}
