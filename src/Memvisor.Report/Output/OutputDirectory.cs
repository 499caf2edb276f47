using Memvisor.Native;

namespace Memvisor.Report.Output;

/// <summary>
/// A directory a command writes its results into. Memvisor writes only into a directory that does not exist, an
/// empty one, or one that holds nothing but its own earlier output (its <see cref="OutputManifest"/> lists every
/// file with its size and hash); anything else is refused before the run starts, and nothing is deleted. Files are
/// written into a staging directory inside the target, whose marker the run holds locked (<see cref="StagingLock"/>),
/// and moved into place only when all are complete, the manifest last, so a failed or interrupted run never leaves a
/// result that looks complete.
/// </summary>
public sealed class OutputDirectory : IDisposable
{
    /// <summary>
    /// A staging directory is named this, the process id and a random suffix (two containers may both run pid 1 into
    /// one shared directory), and holds a <see cref="StagingMarker"/> file the run keeps locked.
    /// </summary>
    public const string StagingPrefix = ".memvisor-staging-";
    public const string StagingMarker = ".memvisor-staging";
    /// <summary>Where a commit keeps the earlier output's manifest while it replaces that output, so a kill midway loses track of nothing.</summary>
    public const string PreviousManifest = ".memvisor-previous.json";

    private readonly string _staging;
    private readonly string _command;
    private readonly string? _createdFrom;
    private readonly StagingLock _marker;
    // Commit and Dispose take turns: the exit handler of an interrupted run waits for a commit under way to finish.
    private readonly Lock _gate = new();
    private bool _committed;
    private bool _keepStaging;
    private bool _disposed;

    private OutputDirectory(string target, string staging, string command, string? createdFrom, StagingLock marker)
    {
        Target = target;
        _staging = staging;
        _command = command;
        _createdFrom = createdFrom;
        _marker = marker;
        // A process that exits without unwinding (the deadline after an interrupt) still removes what it staged.
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
    }

    /// <summary>The directory the results go to (a full path).</summary>
    public string Target { get; }

    /// <summary>
    /// Checks that <paramref name="target"/> may be written and creates its staging directory, before any work is
    /// done. Throws <see cref="OutputException"/>: refused when the target holds what Memvisor did not write, write
    /// failed when the file system says no.
    /// </summary>
    public static OutputDirectory Prepare(string target, string command)
    {
        string full;
        try
        {
            full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(target));
        }
        catch (Exception e) when (e is ArgumentException or PathTooLongException or NotSupportedException)
        {
            throw new OutputException(OutputFailure.Refused, $"'{target}' is not a path Memvisor can write to: {OutputException.Reason(e)}");
        }
        if (new FileInfo(full).LinkTarget is not null && FileStat.KindOf(full) == FileKind.Missing)
            throw new OutputException(OutputFailure.Refused, $"{full} is a symbolic link to nothing; Memvisor does not replace a link it did not make. Choose another --out.");
        var kind = FileStat.KindOf(full);
        string? createdFrom = null;
        if (kind == FileKind.Missing)
        {
            // The first missing directory on the path: what this run makes, and removes again if it fails.
            createdFrom = full;
            for (string? up = Path.GetDirectoryName(full); up is not null && FileStat.KindOf(up) == FileKind.Missing; up = Path.GetDirectoryName(up))
                createdFrom = up;
            try
            {
                Directory.CreateDirectory(full);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                RemoveCreated(full, createdFrom);
                throw OutputException.From(e, full, "creating the output directory");
            }
        }
        else if (kind == FileKind.Unknown)
        {
            throw new OutputException(OutputFailure.WriteFailed, $"{full}: the output directory cannot be looked at (permission denied, or a path that is not valid).");
        }
        else if (kind != FileKind.Directory)
        {
            throw new OutputException(OutputFailure.Refused, $"{full} is {FileStat.Describe(kind)}, not a directory; Memvisor writes its results into a directory and never replaces a file it did not write. Choose another --out.");
        }
        else
        {
            OutputInspection.Inspect(full, ownStaging: null);
        }

        string staging = Path.Combine(full, $"{StagingPrefix}{Environment.ProcessId}-{Guid.NewGuid():N}");
        StagingLock marker;
        try
        {
            Directory.CreateDirectory(staging);
            marker = StagingLock.Create(Path.Combine(staging, StagingMarker), System.Text.Encoding.ASCII.GetBytes($"{Environment.ProcessId}\n"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryRemove(staging, full, createdFrom);
            throw OutputException.From(e, full, "writing into the output directory");
        }
        return new OutputDirectory(full, staging, command, createdFrom, marker);
    }

    /// <summary>
    /// Whether <paramref name="path"/> lies inside the target, where only Memvisor's own output may be: as written, or
    /// once the links on either path are resolved (a swap file named through a link to the output directory).
    /// </summary>
    public bool Contains(string path)
    {
        string full = Path.GetFullPath(path);
        if (full.StartsWith(Target + Path.DirectorySeparatorChar, StringComparison.Ordinal)) return true;
        string? target = FileStat.RealPath(Target);
        string? directory = Path.GetDirectoryName(full) is { } d ? FileStat.RealPath(d) : null;
        if (target is null || directory is null) return false;
        string real = Path.Combine(directory, Path.GetFileName(full));
        return real.StartsWith(target + Path.DirectorySeparatorChar, StringComparison.Ordinal);
    }

    /// <summary>Writes one file (a path relative to the directory, '/' separated) into the staging directory.</summary>
    public void WriteFile(string name, Action<Stream> write)
    {
        string path = Path.Combine(_staging, name);
        try
        {
            FileStream stream;
            lock (_gate)
            {
                // After the exit handler has removed the staging directory nothing may make it again.
                if (_disposed) throw new OperationCanceledException("The run was stopped while its results were being written.");
                string dir = Path.GetDirectoryName(path)!;
                if (dir != _staging) Directory.CreateDirectory(dir);
                stream = File.Create(path);
            }
            using (stream) write(stream);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw OutputException.From(e, Target, $"writing {name}");
        }
    }

    /// <summary>Replaces Memvisor's earlier output in the target (if any) with the staged files, the manifest last.</summary>
    public void Commit()
    {
        lock (_gate)
        {
            if (_disposed) throw new OperationCanceledException("The run was stopped before its results were moved into place.");
            CommitLocked();
        }
    }

    private void CommitLocked()
    {
        string manifestPath = Path.Combine(_staging, OutputManifest.FileName);
        try
        {
            var manifest = OutputManifest.Of(_staging, _command, skip: StagingMarker);
            using (var s = File.Create(manifestPath)) manifest.Write(s);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw OutputException.From(e, Target, "writing the manifest");
        }

        OutputManifest? previous;
        try
        {
            // The target may have changed while the run went on: check it again, keeping the results if it did.
            previous = OutputInspection.Inspect(Target, ownStaging: _staging);
        }
        catch (OutputException e)
        {
            // The run happened and its results exist: a failure to place them (exit 1), not an input refused before it.
            throw new OutputException(OutputFailure.WriteFailed, $"{e.Message} {Keep()}");
        }

        try
        {
            if (previous is not null) RemovePrevious(previous);
            foreach (var entry in Directory.EnumerateFileSystemEntries(_staging))
            {
                string name = Path.GetFileName(entry);
                if (name is StagingMarker or OutputManifest.FileName or PreviousManifest) continue;
                string destination = Path.Combine(Target, name);
                if (Directory.Exists(entry)) Directory.Move(entry, destination);
                else File.Move(entry, destination);
            }
            File.Move(manifestPath, Path.Combine(Target, OutputManifest.FileName));
            _committed = true;
            TryRemove(_staging, Target, null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new OutputException(OutputFailure.WriteFailed,
                $"{OutputException.From(e, Target, "moving the results into place").Message} Some of the results may already be in {Target}, without a manifest. {Keep()}", e);
        }
    }

    // A commit that cannot finish keeps what it made: the staging directory loses its marker, so no later run takes
    // it for a dead run's leftovers, and the message says where the results are.
    private string Keep()
    {
        _keepStaging = true;
        try
        {
            // The marker goes while still locked: in between, another run would take the directory for a dead one's.
            File.Delete(Path.Combine(_staging, StagingMarker));
            _marker.Dispose();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The results are still there; a later run may take them for leftovers only if the marker stays.
        }
        return $"The results were kept in {_staging}.";
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
            _marker.Dispose();
            if (!_committed && !_keepStaging) TryRemove(_staging, Target, _createdFrom);
        }
    }

    private void OnProcessExit(object? sender, EventArgs e) => Dispose();

    // The earlier output goes file by file: its manifest first, moved into the staging directory (so a crash midway
    // leaves nothing in the target that claims to be complete, and the next run still knows every file as Memvisor's,
    // by that manifest or the new one beside it), then each file it lists, then the directories that held them once
    // they are empty.
    private void RemovePrevious(OutputManifest previous)
    {
        string manifest = Path.Combine(Target, OutputManifest.FileName);
        var staged = Path.Combine(_staging, PreviousManifest);
        if (File.Exists(manifest)) File.Move(manifest, staged, overwrite: true);
        // Without a manifest of its own (the leftovers of a killed commit) the files found are listed here instead.
        else using (var s = File.Create(staged)) previous.Write(s);
        var directories = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (rel, _, _) in previous.Files)
        {
            // A listed subdirectory turned into a link since the check would send the delete elsewhere: stop instead.
            for (string? dir = Path.GetDirectoryName(rel); !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
            {
                if (new FileInfo(Path.Combine(Target, dir)).LinkTarget is not null)
                    throw new IOException($"{dir} in the earlier output became a symbolic link during the run; nothing through it was removed.");
                directories.Add(dir);
            }
            File.Delete(Path.Combine(Target, rel));
        }
        foreach (var dir in directories.Reverse())
        {
            string full = Path.Combine(Target, dir);
            if (Directory.Exists(full) && !Directory.EnumerateFileSystemEntries(full).Any()) Directory.Delete(full);
        }
    }

    // Removes a staging directory (every file in it is Memvisor's), and the directories this run created up to the
    // target, each only if it is empty.
    private static void TryRemove(string staging, string target, string? createdFrom)
    {
        try
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a later run removes a dead process's staging directory.
        }
        if (createdFrom is not null) RemoveCreated(target, createdFrom);
    }

    private static void RemoveCreated(string target, string createdFrom)
    {
        try
        {
            for (string? dir = target; dir is not null && dir.Length >= createdFrom.Length; dir = Path.GetDirectoryName(dir))
            {
                if (!Directory.Exists(dir) || Directory.EnumerateFileSystemEntries(dir).Any()) return;
                Directory.Delete(dir);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // An empty directory left behind loses nothing.
        }
    }
}
