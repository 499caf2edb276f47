using System.Globalization;
using Memvisor.Seam;

namespace Memvisor.Tests.Support.InMemory;

/// <summary>A guest's store connection as a dictionary: toolstack-owned keys refused to the guest, watches fired once at once and on each change at or below them.</summary>
internal sealed class InMemoryGuestStore : IGuestStore
{
    private readonly Dictionary<string, string> _values = [];
    private readonly List<string> _watches = [];
    private readonly Queue<string> _events = new();

    public long WritesRefused { get; private set; }

    public string? Read(string key) => _values.GetValueOrDefault(key);

    public long ReadLong(string key, long fallback) =>
        _values.TryGetValue(key, out var v) && long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out long n) ? n : fallback;

    public bool Write(string key, long value)
    {
        if (StoreKeys.ToolstackOwned(key))
        {
            WritesRefused++;
            return false;
        }
        Set(key, value);
        return true;
    }

    /// <summary>A write by the toolstack (xl mem-set and the like).</summary>
    public void SetByToolstack(string key, long value) => Set(key, value);

    public void Watch(string key)
    {
        _watches.Add(key);
        _events.Enqueue(key);
    }

    public bool TryTakeEvent(out string key) => _events.TryDequeue(out key!);

    private void Set(string key, long value)
    {
        string text = value.ToString(CultureInfo.InvariantCulture);
        if (_values.TryGetValue(key, out var old) && old == text) return;
        _values[key] = text;
        foreach (string w in _watches)
            if (key == w || key.StartsWith(w + "/", StringComparison.Ordinal)) _events.Enqueue(w);
    }
}
