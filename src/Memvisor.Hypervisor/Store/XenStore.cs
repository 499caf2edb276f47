namespace Memvisor.Hypervisor.Store;

/// <summary>
/// A XenStore after xenstored: string values under slash-separated paths, one subtree per domain
/// (/local/domain/N), and watches. A watch on a path fires when that path or anything below it is written or
/// removed; the event waits in the watcher's queue until the watcher takes it, as xenbus delivers watch events.
/// </summary>
public sealed class XenStore
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly List<(ushort Watcher, string Path)> _watches = [];
    private readonly Dictionary<ushort, Queue<string>> _events = [];

    public long Writes { get; private set; }
    public long WatchEventsFired { get; private set; }

    /// <summary>The root of a domain's subtree.</summary>
    public static string DomainPath(ushort domid) => $"/local/domain/{domid}";

    public string? Read(string path) => _values.GetValueOrDefault(path);

    /// <summary>Reads a whole number; <paramref name="fallback"/> when the key is missing or is not a number.</summary>
    public long ReadLong(string path, long fallback) =>
        _values.TryGetValue(path, out var v) && long.TryParse(v, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out long n) ? n : fallback;

    /// <summary>Writes a value; watches fire only when it changes.</summary>
    public void Write(string path, string value)
    {
        if (_values.TryGetValue(path, out var old) && old == value) return;
        _values[path] = value;
        Writes++;
        Fire(path);
    }

    public void Write(string path, long value) => Write(path, value.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Removes a path and everything below it; false if there was nothing there.</summary>
    public bool Remove(string path)
    {
        string prefix = path + "/";
        var doomed = _values.Keys.Where(k => k == path || k.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        foreach (var k in doomed) _values.Remove(k);
        if (doomed.Count > 0) Fire(path);
        return doomed.Count > 0;
    }

    /// <summary>Registers a watch; as in xenstored, the watch fires once at once so the watcher reads the current value.</summary>
    public void Watch(ushort watcher, string path)
    {
        _watches.Add((watcher, path));
        Enqueue(watcher, path);
    }

    /// <summary>The next path that fired for this watcher, if any.</summary>
    public bool TryTakeEvent(ushort watcher, out string path)
    {
        if (_events.TryGetValue(watcher, out var q) && q.TryDequeue(out var p))
        {
            path = p;
            return true;
        }
        path = "";
        return false;
    }

    /// <summary>A domain is gone: its subtree, its watches and its pending events are removed (xenstored's release).</summary>
    public void ReleaseDomain(ushort domid)
    {
        Remove(DomainPath(domid));
        _watches.RemoveAll(w => w.Watcher == domid);
        _events.Remove(domid);
    }

    /// <summary>Keys at or below <paramref name="path"/>, sorted, for inspection.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> List(string path)
    {
        string prefix = path + "/";
        return _values.Where(kv => kv.Key == path || kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
    }

    private void Fire(string path)
    {
        foreach (var (watcher, watched) in _watches)
            if (path == watched || path.StartsWith(watched + "/", StringComparison.Ordinal) || watched.StartsWith(path + "/", StringComparison.Ordinal))
                Enqueue(watcher, watched);
    }

    private void Enqueue(ushort watcher, string path)
    {
        if (!_events.TryGetValue(watcher, out var q)) _events[watcher] = q = new Queue<string>();
        q.Enqueue(path);
        WatchEventsFired++;
    }
}
