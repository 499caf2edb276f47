using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Memvisor.Sim.Sweeps;

/// <summary>
/// Sets a value in a scenario's YAML tree by a key path: names separated by dots, a list item picked by its index or
/// by its name field (<c>domains[web].count</c>, <c>hosts[1].memory</c>). A missing mapping key is added; a list item
/// that is not there is an error.
/// </summary>
internal static class YamlPath
{
    /// <summary>Sets <paramref name="path"/> in <paramref name="root"/> to a copy of <paramref name="value"/>; the reason it cannot, or null.</summary>
    public static string? Set(YamlNode root, string path, YamlNode value)
    {
        var segments = path.Split('.');
        YamlNode node = root;
        for (int i = 0; i < segments.Length; i++)
        {
            string seg = segments[i];
            string? selector = null;
            int open = seg.IndexOf('[');
            if (open >= 0)
            {
                if (!seg.EndsWith(']') || open == 0) return $"'{seg}' is not a key or key[item]";
                selector = seg[(open + 1)..^1];
                seg = seg[..open];
            }
            if (seg.Length == 0) return $"'{path}' has an empty key";
            if (node is not YamlMappingNode map) return $"'{string.Join('.', segments[..i])}' is not a mapping, so it has no key '{seg}'";
            bool last = i == segments.Length - 1 && selector is null;
            var key = new YamlScalarNode(seg);
            if (last)
            {
                map.Children[key] = Copy(value);
                return null;
            }
            if (!map.Children.TryGetValue(key, out var child))
            {
                if (selector is not null) return $"the scenario has no '{seg}' list";
                child = new YamlMappingNode();
                map.Children[key] = child;
            }
            if (selector is not null)
            {
                if (child is not YamlSequenceNode list) return $"'{seg}' is not a list";
                var item = int.TryParse(selector, NumberStyles.None, CultureInfo.InvariantCulture, out int index)
                    ? (index < list.Children.Count ? list.Children[index] : null)
                    : list.Children.FirstOrDefault(c => c is YamlMappingNode m && m.Children.TryGetValue(new YamlScalarNode("name"), out var n) && n is YamlScalarNode { Value: { } v } && v == selector);
                if (item is null) return $"'{seg}' has no item {(index >= 0 && selector.All(char.IsAsciiDigit) ? $"{selector} (it has {list.Children.Count})" : $"named '{selector}'")}";
                if (i == segments.Length - 1)
                {
                    list.Children[list.Children.IndexOf(item)] = Copy(value);
                    return null;
                }
                child = item;
            }
            node = child;
        }
        return null;
    }

    /// <summary>A deep copy, so that points never share nodes.</summary>
    public static YamlNode Copy(YamlNode node) => node switch
    {
        YamlScalarNode s => new YamlScalarNode(s.Value) { Style = s.Style },
        YamlSequenceNode q => new YamlSequenceNode(q.Children.Select(Copy)),
        YamlMappingNode m => new YamlMappingNode(m.Children.Select(kv => new KeyValuePair<YamlNode, YamlNode>(Copy(kv.Key), Copy(kv.Value)))),
        _ => node,
    };
}
