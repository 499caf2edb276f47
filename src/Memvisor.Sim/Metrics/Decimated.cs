namespace Memvisor.Sim.Metrics;

/// <summary>
/// A list of samples that never holds more than <see cref="Capacity"/>: when it is full, every second item is dropped
/// and from then on only every other sample offered is kept (the stride doubles), so the kept ones stay evenly spaced
/// and a long run's memory stays bounded, the same way every run.
/// </summary>
public sealed class Decimated<T>(int capacity)
{
    private readonly List<T> _items = [];
    private long _offered;

    public int Capacity { get; } = Math.Max(2, capacity);
    public IReadOnlyList<T> Items => _items;

    /// <summary>Samples offered per item kept (1 until the list first fills, then 2, 4, ...).</summary>
    public long Stride { get; private set; } = 1;

    /// <summary>Offers a sample; it is kept if it falls on the stride, or if <paramref name="keep"/> (a run's final sample).</summary>
    public void Add(T item, bool keep = false)
    {
        if (_offered++ % Stride != 0 && !keep) return;
        if (_items.Count >= Capacity)
        {
            int kept = 0;
            for (int i = 0; i < _items.Count; i += 2) _items[kept++] = _items[i];
            _items.RemoveRange(kept, _items.Count - kept);
            Stride *= 2;
        }
        _items.Add(item);
    }
}
