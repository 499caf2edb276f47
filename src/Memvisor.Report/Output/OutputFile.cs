using Memvisor.Native;

namespace Memvisor.Report.Output;

/// <summary>
/// One file a command writes (a converted trace, analyze's timing figures). It replaces only a file Memvisor wrote
/// before (the caller's <c>isOurs</c> test, by the file's own format marker), is written to a staging file beside
/// it, and is moved into place only when complete; on any failure or interrupt the staging file is removed.
/// </summary>
public sealed class OutputFile : IDisposable
{
    private const string StagingInfix = ".memvisor-staging-";
    private bool _committed;

    private OutputFile(string target, string staging)
    {
        Target = target;
        Staging = staging;
        // A process that exits without unwinding (the deadline after an interrupt) still removes its staging file.
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
    }

    private void OnProcessExit(object? sender, EventArgs e) => Dispose();

    public string Target { get; }

    /// <summary>The staging file being written.</summary>
    public string Staging { get; }

    /// <summary>
    /// Checks that <paramref name="path"/> may be written (it does not exist, or <paramref name="isOurs"/> says it is
    /// an earlier output of the same kind), and removes staging files that dead Memvisor processes left beside it.
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
        if (new FileInfo(full).LinkTarget is not null)
            throw new OutputException(OutputFailure.Refused, $"{full} is a symbolic link; Memvisor writes {what} to a regular file and never replaces a link. Choose another path.");
        var kind = FileStat.KindOf(full);
        if (kind is not (FileKind.Missing or FileKind.Regular))
            throw new OutputException(OutputFailure.Refused, $"{full} is {FileStat.Describe(kind)}; Memvisor writes {what} to a regular file and never replaces anything else. Choose another path.");
        if (kind == FileKind.Regular && !isOurs(full))
            throw new OutputException(OutputFailure.Refused, $"{full} was not touched: it exists and is not {what} Memvisor wrote. Choose another path, or move the file.");
        string directory = Path.GetDirectoryName(full)!;
        string name = Path.GetFileName(full);
        if (FileStat.KindOf(directory) != FileKind.Directory)
            throw new OutputException(OutputFailure.WriteFailed, $"{full}: writing {what} failed: the directory {directory} does not exist.");
        RemoveStale(directory, name, isOurs);
        string staging = Path.Combine(directory, $".{name}{StagingInfix}{Environment.ProcessId}");
        try
        {
            using (File.Create(staging)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw OutputException.From(e, full, $"writing {what}");
        }
        return new OutputFile(full, staging);
    }

    /// <summary>The staging file as a stream whose write failures (a full disk) are <see cref="OutputException"/>s, not a reader's errors.</summary>
    public Stream OpenWrite()
    {
        try
        {
            return new WriteGuard(new FileStream(Staging, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16), Target);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw OutputException.From(e, Target, "writing");
        }
    }

    /// <summary>Moves the complete staging file into place.</summary>
    public void Commit()
    {
        try
        {
            File.Move(Staging, Target, overwrite: true);
            _committed = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw OutputException.From(e, Target, "moving the file into place");
        }
    }

    public void Dispose()
    {
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        if (_committed) return;
        try
        {
            File.Delete(Staging);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a later run removes a dead process's staging file.
        }
    }

    // Staging files of this target whose process is gone, and whose contents are Memvisor's, are removed.
    private static void RemoveStale(string directory, string name, Func<string, bool> isOurs)
    {
        string prefix = $".{name}{StagingInfix}";
        try
        {
            foreach (var file in Directory.EnumerateFiles(directory, prefix + "*", new EnumerationOptions { AttributesToSkip = 0 }))
            {
                if (!int.TryParse(Path.GetFileName(file)[prefix.Length..], out int pid) || Processes.IsAlive(pid)) continue;
                var info = new FileInfo(file);
                if (info.LinkTarget is null && (info.Length == 0 || isOurs(file))) File.Delete(file);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Nothing to clean, or no right to: neither stops the write.
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
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw OutputException.From(e, target, "writing");
            }
        }
        public override void Flush() => Guarded(inner.Flush);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) Guarded(inner.Dispose);
            base.Dispose(disposing);
        }

        private void Guarded(Action write)
        {
            try
            {
                write();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw OutputException.From(e, target, "writing");
            }
        }
    }
}
