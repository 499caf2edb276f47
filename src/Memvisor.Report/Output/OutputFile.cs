using Memvisor.Native;

namespace Memvisor.Report.Output;

/// <summary>
/// One file a command writes (a converted trace, analyze's timing figures). It replaces only a file Memvisor wrote
/// before (the caller's <c>isOurs</c> test, by the file's own format marker, checked again at the moment of the
/// move), is written to a staging file beside it that the run keeps locked, and is moved into place only when
/// complete; on any failure or interrupt the staging file is removed.
/// </summary>
public sealed class OutputFile : IDisposable
{
    private const string StagingInfix = ".memvisor-staging-";
    private readonly string _what;
    private readonly Func<string, bool> _isOurs;
    private readonly bool _replaces;
    private readonly StagingLock _staging;
    private readonly Lock _gate = new();
    private bool _committed;
    private bool _kept;
    private bool _disposed;

    private OutputFile(string target, string staging, string what, Func<string, bool> isOurs, bool replaces, StagingLock lockedStaging)
    {
        Target = target;
        Staging = staging;
        _what = what;
        _isOurs = isOurs;
        _replaces = replaces;
        _staging = lockedStaging;
        // A process that exits without unwinding (the deadline after an interrupt) still removes its staging file.
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
    }

    private void OnProcessExit(object? sender, EventArgs e) => Dispose();

    public string Target { get; }

    /// <summary>The staging file being written.</summary>
    public string Staging { get; }

    /// <summary>
    /// Checks that <paramref name="path"/> may be written (it does not exist, or <paramref name="isOurs"/> says it is
    /// an earlier output of the same kind), and removes staging files that dead Memvisor runs left beside it.
    /// <paramref name="what"/> names the file in messages ("the binary trace").
    /// </summary>
    public static OutputFile Prepare(string path, string what, Func<string, bool> isOurs)
    {
        string full;
        try
        {
            full = Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or PathTooLongException or NotSupportedException)
        {
            throw new OutputException(OutputFailure.Refused, $"'{path}' is not a path Memvisor can write {what} to: {OutputException.Reason(e)}");
        }
        string? why = WhyNotReplaceable(full, what, isOurs);
        if (why is not null) throw new OutputException(OutputFailure.Refused, why);
        string directory = Path.GetDirectoryName(full)!;
        string name = Path.GetFileName(full);
        if (FileStat.KindOf(directory) != FileKind.Directory)
            throw new OutputException(OutputFailure.WriteFailed, $"{full}: writing {what} failed: the directory {directory} does not exist.");
        RemoveStale(directory, name, isOurs);
        // A name no one else uses, created new and held locked: no link or earlier file at that name is ever followed.
        string staging = Path.Combine(directory, $".{name}{StagingInfix}{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            return new OutputFile(full, staging, what, isOurs, FileStat.KindOf(full) == FileKind.Regular, StagingLock.Create(staging, []));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw OutputException.From(e, full, $"writing {what}");
        }
    }

    // Null if the target may be written (missing, or a regular file that is ours); else why not, as a sentence.
    private static string? WhyNotReplaceable(string full, string what, Func<string, bool> isOurs)
    {
        if (new FileInfo(full).LinkTarget is not null)
            return $"{full} is a symbolic link; Memvisor writes {what} to a regular file and never replaces a link. Choose another path.";
        var kind = FileStat.KindOf(full);
        if (kind is not (FileKind.Missing or FileKind.Regular))
            return $"{full} is {FileStat.Describe(kind)}; Memvisor writes {what} to a regular file and never replaces anything else. Choose another path.";
        if (kind == FileKind.Regular && !isOurs(full))
            return $"{full} was not touched: it exists and is not {what} Memvisor wrote. Choose another path, or move the file.";
        return null;
    }

    /// <summary>The staging file as a stream whose write failures (a full disk) are <see cref="OutputException"/>s, not a reader's errors; closing it keeps the lock.</summary>
    public Stream OpenWrite() => new WriteGuard(_staging.Stream, Target);

    /// <summary>
    /// Moves the complete staging file into place. The target is checked again first: a file that appeared there
    /// during the run, or changed into something Memvisor did not write, is not replaced, and the result is kept.
    /// </summary>
    public void Commit()
    {
        lock (_gate)
        {
            // The exit handler of an interrupted run got here first and removed the staging file.
            if (_disposed) throw new OperationCanceledException("The run was stopped before its result was moved into place.");
            try
            {
                _staging.Stream.Flush();
                if (!_replaces) File.Move(Staging, Target, overwrite: false);  // fails if a file appeared meanwhile
                else if (WhyNotReplaceable(Target, _what, _isOurs) is { } why) throw new OutputException(OutputFailure.WriteFailed, $"{why} {Keep()}");
                else File.Move(Staging, Target, overwrite: true);
                _committed = true;
            }
            catch (IOException e) when (!_replaces && File.Exists(Target))
            {
                throw new OutputException(OutputFailure.WriteFailed, $"{Target} was not touched: a file appeared there while Memvisor worked. {Keep()}", e);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw OutputException.From(e, Target, "moving the file into place");
            }
        }
    }

    // The result is kept under a name no later run takes for a dead run's staging file, and the message says where.
    private string Keep()
    {
        string kept = Path.Combine(Path.GetDirectoryName(Target)!, $"{Path.GetFileName(Target)}.memvisor-kept-{Environment.ProcessId}");
        try
        {
            File.Move(Staging, kept, overwrite: false);
            _kept = true;
            return $"The result was kept in {kept}.";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "The result could not be kept.";
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
            _staging.Dispose();
            if (_committed || _kept) return;
            try
            {
                File.Delete(Staging);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Best effort: a later run removes a dead run's staging file.
            }
        }
    }

    // Staging files of this target that no live run holds, and whose contents are Memvisor's (or nothing yet), are removed.
    private static void RemoveStale(string directory, string name, Func<string, bool> isOurs)
    {
        string prefix = $".{name}{StagingInfix}";
        IEnumerable<string> candidates;
        try
        {
            candidates = Directory.EnumerateFiles(directory, prefix + "*", new EnumerationOptions { AttributesToSkip = 0 }).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }
        foreach (var file in candidates)
        {
            try
            {
                if (StagingLock.Check(file, f => new FileInfo(f).Length == 0 || isOurs(f)) == StagingState.Dead) File.Delete(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // One that cannot be removed stops nothing.
            }
        }
    }

    private sealed class WriteGuard(Stream inner, string target) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Write(byte[] buffer, int offset, int count) => Guarded(() => inner.Write(buffer, offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            try
            {
                inner.Write(buffer);
            }
            catch (ObjectDisposedException)
            {
                throw Stopped();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw OutputException.From(e, target, "writing");
            }
        }
        public override void Flush() => Guarded(inner.Flush);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        // Closing the guard flushes; the staging file stays open, and locked, until the commit moves it.
        protected override void Dispose(bool disposing)
        {
            if (disposing) Guarded(inner.Flush);
            base.Dispose(disposing);
        }

        private void Guarded(Action write)
        {
            try
            {
                write();
            }
            catch (ObjectDisposedException)
            {
                throw Stopped();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw OutputException.From(e, target, "writing");
            }
        }

        // The exit handler of an interrupted run closed the staging file under the writer.
        private static OperationCanceledException Stopped() => new("The run was stopped while its result was being written.");
    }
}
