using Memvisor.Hypervisor.Domains;
using Memvisor.Machine.Lanes;
using Memvisor.Seam;

namespace Memvisor.Hypervisor.Store;

/// <summary>
/// One domain's connection to the store: relative keys under /local/domain/N, toolstack keys read-only. Reads and
/// taking a watch event (the domain's own queue) run beside other guests' steps; a write or a new watch changes
/// the store and waits for the lane's turn (<see cref="Turn"/>).
/// </summary>
internal sealed class StoreConnection(XenStore store, Domain d) : IGuestStore
{
    private readonly string _root = XenStore.DomainPath(d.DomId) + "/";

    public string? Read(string key) => store.Read(_root + key);

    public long ReadLong(string key, long fallback) => store.ReadLong(_root + key, fallback);

    public bool Write(string key, long value)
    {
        Turn.Take();
        if (StoreKeys.ToolstackOwned(key))
        {
            d.Counters.StoreWritesRefused++;
            return false;
        }
        store.Write(_root + key, value);
        return true;
    }

    private readonly List<string> _watched = [];

    /// <summary>The keys this connection watches, in the order they were registered.</summary>
    public IReadOnlyList<string> Watched => _watched;

    public void Watch(string key)
    {
        Turn.Take();
        _watched.Add(key);
        store.Watch(d.DomId, _root + key);
    }

    public bool TryTakeEvent(out string key)
    {
        if (store.TryTakeEvent(d.DomId, out var path))
        {
            key = path.StartsWith(_root, StringComparison.Ordinal) ? path[_root.Length..] : path;
            return true;
        }
        key = "";
        return false;
    }
}
