namespace Memvisor.Seam;

/// <summary>
/// A guest's xenbus connection to XenStore: paths are relative to its own /local/domain/N. A write to a key the
/// toolstack owns (memory/target and the like) is refused and counted, as xenstored's permissions refuse it.
/// </summary>
public interface IGuestStore
{
    string? Read(string key);

    /// <summary>Reads a whole number; <paramref name="fallback"/> if the key is missing or not a number.</summary>
    long ReadLong(string key, long fallback);

    /// <summary>Writes a value under the guest's subtree; false if the key is not the guest's to write.</summary>
    bool Write(string key, long value);

    /// <summary>Watches a key (it fires once at once, then on every change at or below it).</summary>
    void Watch(string key);

    /// <summary>The next watched key that fired, relative to the guest's subtree.</summary>
    bool TryTakeEvent(out string key);
}
