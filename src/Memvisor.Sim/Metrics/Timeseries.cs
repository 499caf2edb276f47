namespace Memvisor.Sim.Metrics;

/// <summary>
/// Host and per-domain memory sampled over simulated time; a missing value (domain not running) is null. The series
/// holds at most <see cref="MaxRows"/> rows, so a long run's memory and report stay bounded: when it is full, every
/// second row is dropped and from then on only every other sample is kept (the stride doubles), the same way every
/// run, so the kept rows stay evenly spaced and deterministic.
/// </summary>
public sealed class Timeseries(IReadOnlyList<string> columns, int maxRows = Timeseries.DefaultMaxRows)
{
    /// <summary>8192 rows: two hours and a quarter at the default sample of 1 s before any is dropped.</summary>
    public const int DefaultMaxRows = 8192;

    private readonly List<(long TimeNs, long?[] Values)> _rows = [];
    private long _offered;

    public IReadOnlyList<string> Columns { get; } = columns;
    public IReadOnlyList<(long TimeNs, long?[] Values)> Rows => _rows;
    public int MaxRows { get; } = Math.Max(2, maxRows);

    /// <summary>Samples offered per row kept (1 until the series first fills, then 2, 4, ...).</summary>
    public long Stride { get; private set; } = 1;

    /// <summary>Offers a sample; it is kept if it falls on the stride, or if <paramref name="last"/> (the run's final sample).</summary>
    public void Add(long timeNs, long?[] values, bool last = false)
    {
        if (values.Length != Columns.Count)
            throw new ArgumentException($"A row needs {Columns.Count} values, not {values.Length}.", nameof(values));
        if (_offered++ % Stride != 0 && !last) return;
        if (_rows.Count >= MaxRows) Halve();
        _rows.Add((timeNs, values));
    }

    // Keeps rows 0, 2, 4, ... and doubles the stride, so later rows keep the same spacing.
    private void Halve()
    {
        int kept = 0;
        for (int i = 0; i < _rows.Count; i += 2) _rows[kept++] = _rows[i];
        _rows.RemoveRange(kept, _rows.Count - kept);
        Stride *= 2;
    }
}
