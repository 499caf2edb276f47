using System.Globalization;
using System.Text.Json;
using Memvisor.Native;

namespace Memvisor.Report.Output;

/// <summary>
/// The list of files Memvisor wrote into an output directory, kept in the directory as <see cref="FileName"/>. It is
/// the proof that a directory is a previous Memvisor output, and the limit of what a later run may delete there:
/// only the files it lists, and only while each still has the size and the XXH3 hash of the bytes Memvisor wrote.
/// </summary>
public sealed record OutputManifest(string Command, IReadOnlyList<(string Path, long Bytes, ulong Hash)> Files)
{
    /// <summary>The XXH3 hash of a file's bytes, as the manifest records it.</summary>
    public static ulong HashOf(string path) => XxHash.Hash64(File.ReadAllBytes(path));

    /// <summary>Whether the file at <paramref name="path"/> is still the one listed: its size, then its bytes.</summary>
    public static bool Unchanged(string path, long bytes, ulong hash) => new FileInfo(path).Length == bytes && HashOf(path) == hash;

    public const string FileName = ".memvisor-output.json";
    private const string Format = "memvisor-output";
    private const int Version = 1;

    /// <summary>Every regular file under <paramref name="root"/> (but <paramref name="skip"/>), by relative path with '/' separators, and its size.</summary>
    public static OutputManifest Of(string root, string command, string skip)
    {
        var files = new List<(string, long, ulong)>();
        foreach (var path in Directory.EnumerateFiles(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
        {
            string rel = Path.GetRelativePath(root, path).Replace('\\', '/');
            if (rel == FileName || rel == skip) continue;
            files.Add((rel, new FileInfo(path).Length, HashOf(path)));
        }
        files.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
        return new OutputManifest(command, files);
    }

    public void Write(Stream output)
    {
        using var w = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("format", Format);
        w.WriteNumber("version", Version);
        w.WriteString("command", Command);
        w.WriteStartArray("files");
        foreach (var (path, bytes, hash) in Files)
        {
            w.WriteStartObject();
            w.WriteString("path", path);
            w.WriteNumber("bytes", bytes);
            w.WriteString("xxh3", hash.ToString("x16", CultureInfo.InvariantCulture));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>The manifest in <paramref name="directory"/>, or null if there is none or it is not one Memvisor wrote.</summary>
    public static OutputManifest? TryRead(string directory) => TryReadFile(Path.Combine(directory, FileName));

    /// <summary>The manifest in the file at <paramref name="path"/>, or null if there is none or it is not one Memvisor wrote.</summary>
    public static OutputManifest? TryReadFile(string path)
    {
        try
        {
            var info = new FileInfo(path);
            // Only a regular file is read: a FIFO by that name would never end.
            if (info.LinkTarget is not null || FileStat.KindOf(path) != FileKind.Regular || info.Length > 16 << 20) return null;
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out var f) || f.ValueKind != JsonValueKind.String
                || f.GetString() != Format || !root.TryGetProperty("version", out var v) || !v.TryGetInt32(out int version) || version != Version
                || !root.TryGetProperty("files", out var list) || list.ValueKind != JsonValueKind.Array)
                return null;
            var files = new List<(string, long, ulong)>();
            foreach (var e in list.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("path", out var p) || p.ValueKind != JsonValueKind.String
                    || !e.TryGetProperty("bytes", out var b) || !b.TryGetInt64(out long bytes)
                    || !e.TryGetProperty("xxh3", out var x) || x.ValueKind != JsonValueKind.String
                    || !ulong.TryParse(x.GetString(), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong hash))
                    return null;
                string rel = p.GetString()!;
                // A manifest names files inside its directory, never outside it, each once, in names a file can have.
                if (rel.Length == 0 || rel.Length > 4096 || rel.StartsWith('/') || rel.Any(char.IsControl) || bytes < 0
                    || rel.Split('/').Any(part => part is "" or "." or ".." || part.Length > 255))
                    return null;
                files.Add((rel, bytes, hash));
            }
            var paths = new HashSet<string>(files.Select(f => f.Item1), StringComparer.Ordinal);
            if (paths.Count != files.Count) return null;
            // A path cannot be a file and, in another entry, a directory.
            foreach (var (rel, _, _) in files)
                for (int i = rel.IndexOf('/'); i >= 0; i = rel.IndexOf('/', i + 1))
                    if (paths.Contains(rel[..i])) return null;
            string command = root.TryGetProperty("command", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "";
            return new OutputManifest(command, files);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }
}
