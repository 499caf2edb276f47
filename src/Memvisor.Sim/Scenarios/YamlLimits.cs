using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Memvisor.Sim.Scenarios;

/// <summary>
/// Checks a scenario's YAML as a stream of parser events before any tree is built, so that no file can exhaust the
/// stack or the memory of the loader: nesting is at most <see cref="MaxDepth"/> deep, a file holds one document,
/// and aliases, which can make a small file stand for a huge tree, are few.
/// </summary>
public static class YamlLimits
{
    /// <summary>The deepest nesting of mappings and sequences a scenario may use (the deepest built-in uses 6).</summary>
    public const int MaxDepth = 32;

    /// <summary>The most aliases (*name) a scenario may use; each can stand for a whole subtree.</summary>
    public const int MaxAliases = 64;

    /// <summary>The largest scenario file, in bytes.</summary>
    public const long MaxBytes = 1L << 20;

    /// <summary>The first limit <paramref name="text"/> breaks, as a located error; null if it keeps them all.</summary>
    public static ScenarioError? Check(string text, string file)
    {
        var parser = new Parser(new StringReader(text));
        int depth = 0, documents = 0, aliases = 0;
        Mark last = Mark.Empty;
        while (Next(parser, file, ref last, out var failed))
        {
            if (failed is not null) return failed;
            var e = parser.Current!;
            last = e.End;
            switch (e)
            {
                case DocumentStart when documents++ > 0:
                    return At(e, file, "(file)", "the file holds more than one YAML document; a scenario is one document (remove the second '---' and what follows it).");
                case MappingStart or SequenceStart when ++depth > MaxDepth:
                    return At(e, file, "(syntax)", $"the YAML is nested more than {MaxDepth} levels deep; no scenario needs that.");
                case MappingEnd or SequenceEnd:
                    depth--;
                    break;
                case AnchorAlias when ++aliases > MaxAliases:
                    return At(e, file, "(syntax)", $"the YAML uses more than {MaxAliases} aliases (*name); write the values out instead.");
            }
        }
        return null;
    }

    // One more parser event. YamlDotNet's scanner throws more than YamlException on some broken input (an
    // InvalidOperationException inside a plain scalar, found by ScenarioFuzzProperties): any failure is a syntax
    // error at the end of the last event it read.
    private static bool Next(Parser parser, string file, ref Mark last, out ScenarioError? failed)
    {
        failed = null;
        try
        {
            return parser.MoveNext();
        }
        catch (YamlException)
        {
            throw;
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or IndexOutOfRangeException or FormatException or OverflowException)
        {
            failed = new ScenarioError(file, (int)Math.Min(Math.Max(1, last.Line), int.MaxValue), (int)Math.Min(Math.Max(1, last.Column), int.MaxValue), "(syntax)",
                "this is not valid YAML: the parser could not read on after this point.");
            return true;
        }
    }

    /// <summary>The most nodes a scenario's tree may stand for once its aliases are expanded.</summary>
    public const long MaxExpandedNodes = 1_000_000;

    /// <summary>
    /// After loading: the tree the aliases expand to must stay small and shallow, and may not contain itself. Walked
    /// once per distinct node (the size and height of each are remembered), so the check costs what the file does.
    /// </summary>
    public static ScenarioError? CheckTree(YamlNode root, string file)
    {
        var measured = new Dictionary<YamlNode, (long Size, int Height)>(ReferenceEqualityComparer.Instance);
        var open = new HashSet<YamlNode>(ReferenceEqualityComparer.Instance);
        ScenarioError? error = null;
        Measure(root);
        return error;

        (long Size, int Height) Measure(YamlNode node)
        {
            if (measured.TryGetValue(node, out var known)) return known;
            if (!open.Add(node))
            {
                error ??= new ScenarioError(file, (int)node.Start.Line, (int)node.Start.Column, "(syntax)", "an alias refers to a node that contains it; a scenario cannot be recursive.");
                return (MaxExpandedNodes, MaxDepth);
            }
            long size = 1;
            int height = 0;
            IEnumerable<YamlNode> children = node switch
            {
                YamlMappingNode map => map.Children.SelectMany(c => new[] { c.Key, c.Value }),
                YamlSequenceNode seq => seq.Children,
                _ => [],
            };
            foreach (var child in children)
            {
                if (error is not null) break;
                var (s, h) = Measure(child);
                size = Math.Min(size + s, MaxExpandedNodes + 1);
                height = Math.Max(height, h + 1);
            }
            open.Remove(node);
            if (error is null && (size > MaxExpandedNodes || height > 2 * MaxDepth))
                error = new ScenarioError(file, (int)node.Start.Line, (int)node.Start.Column, "(syntax)",
                    $"with its aliases expanded the YAML stands for more than {MaxExpandedNodes:N0} values or {2 * MaxDepth} levels; write a smaller scenario.");
            measured[node] = (size, height);
            return (size, height);
        }
    }

    private static ScenarioError At(ParsingEvent e, string file, string field, string message) =>
        new(file, (int)Math.Min(e.Start.Line, int.MaxValue), (int)Math.Min(e.Start.Column, int.MaxValue), field, message);
}
