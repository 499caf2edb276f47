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
    /// The manifest of Memvisor's earlier output in <paramref name="directory"/>, or null if it holds none; throws a
    /// refusal if it holds anything else or another run is writing there. Staging directories of dead runs are removed,
    /// but only when the directory is accepted: a refusal touches nothing.
    /// </summary>
    public static OutputManifest? Inspect(string directory, string? ownStaging)
    {
        var manifest = OutputManifest.TryRead(directory);
        var listed = manifest?.Files.ToDictionary(f => f.Path, f => (f.Bytes, f.Hash), StringComparer.Ordinal) ?? [];
        var listedDirs = new HashSet<string>(listed.Keys.SelectMany(ParentsOf), StringComparer.Ordinal);
        var foreign = new List<string>();
        var stale = new List<string>();
        var unmarked = new List<string>();
        try
        {
            Walk(directory, "");
            if (foreign.Count == 0)
            {
                foreach (var dead in stale) Directory.Delete(dead, recursive: true);
                foreach (var empty in unmarked) RemoveIfEmpty(empty);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw OutputException.From(e, directory, "looking into the output directory");
        }
        if (foreign.Count == 0) return manifest;
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
                if (prefix.Length == 0 && name.StartsWith(OutputDirectory.StagingPrefix, StringComparison.Ordinal) && !link)
                {
                    if (entry == ownStaging) continue;
                    switch (StagingLock.Check(Path.Combine(entry, OutputDirectory.StagingMarker)))
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
                else if (kind != FileKind.Regular || !listed.TryGetValue(rel, out var written) || !OutputManifest.Unchanged(entry, written.Bytes, written.Hash))
                    foreign.Add(rel);
            }
        }
    }

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
