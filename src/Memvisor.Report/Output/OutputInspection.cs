using Memvisor.Native;

namespace Memvisor.Report.Output;

/// <summary>
/// What an existing output directory holds, decided before Memvisor writes into it: nothing, Memvisor's own earlier
/// output (every file listed in its manifest, unchanged), or anything else, which is refused. Links are never
/// followed, and only regular files are read (a FIFO would never end).
/// </summary>
internal static class OutputInspection
{
    private const int ForeignShown = 3;

    /// <summary>
    /// The files of Memvisor's earlier output in <paramref name="directory"/> (as a manifest), or null if it holds none;
    /// throws a refusal if it holds anything else or another run is writing there. Staging directories of dead runs are
    /// removed, but only when the directory is accepted: a refusal touches nothing. A run killed while it committed left
    /// both manifests in its staging directory (the new results' and, moved there, the earlier output's), so the files
    /// either lists, unchanged, still count as Memvisor's and the next run finishes the replacement.
    /// </summary>
    public static OutputManifest? Inspect(string directory, string? ownStaging)
    {
        var manifest = OutputManifest.TryRead(directory);
        var listed = new Dictionary<string, List<(long Bytes, ulong Hash)>>(StringComparer.Ordinal);
        void List(OutputManifest? m)
        {
            foreach (var (path, bytes, hash) in m?.Files ?? [])
                (listed.TryGetValue(path, out var known) ? known : listed[path] = []).Add((bytes, hash));
        }
        List(manifest);
        var foreign = new List<string>();
        var stale = new List<string>();
        var unmarked = new List<string>();
        var matched = new List<(string, long, ulong)>();
        bool recovered = false;
        try
        {
            foreach (var entry in Directory.EnumerateDirectories(directory, OutputDirectory.StagingPrefix + "*", new EnumerationOptions { AttributesToSkip = 0 }))
                if (entry != ownStaging && IsStagingName(Path.GetFileName(entry)) && new FileInfo(entry).LinkTarget is null
                    && StagingLock.Check(Path.Combine(entry, OutputDirectory.StagingMarker), IsMarker) == StagingState.Dead)
                {
                    var left = new[] { OutputManifest.TryRead(entry), OutputManifest.TryReadFile(Path.Combine(entry, OutputDirectory.PreviousManifest)) };
                    foreach (var m in left) List(m);
                    recovered |= left.Any(m => m is not null);
                }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw OutputException.From(e, directory, "looking into the output directory");
        }
        var listedDirs = new HashSet<string>(listed.Keys.SelectMany(ParentsOf), StringComparer.Ordinal);
        try
        {
            Walk(directory, "");
            if (foreign.Count == 0)
            {
                // A killed commit's files are Memvisor's by its staging directory's manifests, which go with it: a
                // manifest of what is there now takes their place first (written beside them, then moved in whole).
                if (recovered && stale.Count > 0)
                {
                    string written = Path.Combine(stale[0], ".memvisor-recovered.json");
                    using (var s = File.Create(written)) new OutputManifest(manifest?.Command ?? "", matched).Write(s);
                    File.Move(written, Path.Combine(directory, OutputManifest.FileName), overwrite: true);
                }
                foreach (var dead in stale) Directory.Delete(dead, recursive: true);
                foreach (var empty in unmarked) RemoveIfEmpty(empty);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw OutputException.From(e, directory, "looking into the output directory");
        }
        if (foreign.Count == 0) return manifest is null && matched.Count == 0 ? null : new OutputManifest(manifest?.Command ?? "", matched);
        string examples = string.Join(", ", foreign.Take(ForeignShown));
        string why = manifest is null
            ? "it is not empty and is not an earlier Memvisor output (it has no Memvisor manifest; outputs of Memvisor from before the manifest count as not Memvisor's)"
            : "besides Memvisor's earlier output it holds files Memvisor did not write, or files changed since";
        throw new OutputException(OutputFailure.Refused,
            $"{directory} was not touched: {why} ({examples}{(foreign.Count > ForeignShown ? ", ..." : "")}). Memvisor writes only into a new or empty directory or over its own earlier output; choose another --out, or move those files.");

        void Walk(string dir, string prefix)
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(dir, "*", new EnumerationOptions { AttributesToSkip = 0 }))
            {
                if (foreign.Count > ForeignShown) return;
                string name = Path.GetFileName(entry);
                string rel = prefix + name;
                if (prefix.Length == 0 && name == OutputManifest.FileName && manifest is not null) continue;
                var info = new FileInfo(entry);
                bool link = info.LinkTarget is not null;
                if (prefix.Length == 0 && IsStagingName(name) && !link)
                {
                    if (entry == ownStaging) continue;
                    switch (StagingLock.Check(Path.Combine(entry, OutputDirectory.StagingMarker), IsMarker))
                    {
                        case StagingState.Live:
                            throw new OutputException(OutputFailure.Refused,
                                $"{directory} is being written by another Memvisor run ({name}); wait for it to finish or choose another --out.");
                        case StagingState.Dead:
                            stale.Add(entry);
                            continue;
                        // A run killed between making its staging directory and its marker left it empty.
                        case StagingState.NotStaging when FileStat.KindOf(entry) == FileKind.Directory && !Directory.EnumerateFileSystemEntries(entry).Any():
                            unmarked.Add(entry);
                            continue;
                    }
                }
                var kind = link ? FileKind.Unknown : FileStat.KindOf(entry);
                if (kind == FileKind.Directory && listedDirs.Contains(rel)) Walk(entry, rel + "/");
                else if (kind == FileKind.Regular && listed.TryGetValue(rel, out var written) && Unchanged(entry, written) is var (bytes, hash))
                    matched.Add((rel, bytes, hash));
                else
                    foreign.Add(rel);
            }
        }
    }

    // The version a manifest lists that the file still is, if any: its size first, then its bytes.
    private static (long, ulong)? Unchanged(string path, List<(long Bytes, ulong Hash)> versions)
    {
        long length = new FileInfo(path).Length;
        if (!versions.Any(v => v.Bytes == length)) return null;
        ulong hash = OutputManifest.HashOf(path);
        return versions.Any(v => v.Bytes == length && v.Hash == hash) ? (length, hash) : null;
    }

    // .memvisor-staging-PID-RANDOM (or -PID alone, as Memvisor named them before): no other name is taken for one.
    private static bool IsStagingName(string name)
    {
        if (!name.StartsWith(OutputDirectory.StagingPrefix, StringComparison.Ordinal)) return false;
        var rest = name.AsSpan(OutputDirectory.StagingPrefix.Length);
        int dash = rest.IndexOf('-');
        var pid = dash < 0 ? rest : rest[..dash];
        return pid.Length is > 0 and <= 10 && !pid.ContainsAnyExceptInRange('0', '9')
            && (dash < 0 || rest[(dash + 1)..] is { Length: 32 } random && !random.ContainsAnyExcept("0123456789abcdef"));
    }

    // A marker holds its run's process id and a line break, and nothing else (or nothing yet, if the run was killed
    // as it made it).
    private static bool IsMarker(string path) =>
        new FileInfo(path).Length <= 11 && File.ReadAllText(path).TrimEnd('\n').All(char.IsAsciiDigit);

    // Only while still empty (a starting run may be about to lock its marker in it); one that is not is left alone.
    private static void RemoveIfEmpty(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: false);
        }
        catch (IOException)
        {
            // Not empty after all, or gone: nothing of anyone's is lost either way.
        }
    }

    private static IEnumerable<string> ParentsOf(string rel)
    {
        for (int i = rel.IndexOf('/'); i >= 0; i = rel.IndexOf('/', i + 1)) yield return rel[..i];
    }
}
