using YamlDotNet.RepresentationModel;

namespace Memvisor.Sim.Scenarios;

/// <summary>
/// One level of a scenario as a table: each key it accepts, with the binder that reads the key's value into the
/// level's options. The keys a level accepts are its table's keys, so a key can be neither accepted and then
/// ignored nor bound without being accepted; defaults stay in the options record, which each binder updates.
/// Keys are bound in the table's order, so errors come in a fixed order whatever the file's.
/// </summary>
internal sealed class KeyTable<T>
{
    /// <summary>Reads <paramref name="value"/> (at <paramref name="path"/>) into <paramref name="current"/>.</summary>
    internal delegate T Binder(YamlBinder b, YamlNode value, string path, T current);

    private readonly (string Key, Binder Bind)[] _entries;

    public KeyTable(params (string Key, Binder Bind)[] entries)
    {
        _entries = entries;
        Keys = [.. entries.Select(e => e.Key)];
    }

    public IReadOnlyList<string> Keys { get; }

    /// <summary>Binds the mapping at <paramref name="node"/> onto <paramref name="initial"/>: unknown, repeated and missing required keys are errors at their line.</summary>
    public T Bind(YamlBinder b, YamlNode? node, string path, T initial, IReadOnlyCollection<string>? required = null)
    {
        var fields = b.Fields(node, path, Keys, required ?? []);
        var value = initial;
        foreach (var (key, bind) in _entries)
            if (fields.TryGetValue(key, out var n)) value = bind(b, n, path.Length == 0 ? key : $"{path}.{key}", value);
        return value;
    }
}
