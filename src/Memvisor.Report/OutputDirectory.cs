namespace Memvisor.Report;

/// <summary>
/// Writes a run's files into a staging directory beside the target and moves it into place only when every file
/// is complete, so a failed run never leaves a half-written report that looks complete.
/// </summary>
public sealed class OutputDirectory : IDisposable
{
    private readonly string _staging;
    private bool _committed;

    public OutputDirectory(string target)
    {
        Target = Path.GetFullPath(target);
        string parent = Path.GetDirectoryName(Target) ?? ".";
        Directory.CreateDirectory(parent);
        _staging = Path.Combine(parent, $".{Path.GetFileName(Target)}.partial-{Environment.ProcessId}");
        if (Directory.Exists(_staging)) Directory.Delete(_staging, recursive: true);
        Directory.CreateDirectory(_staging);
    }

    public string Target { get; }

    public void WriteFile(string name, Action<Stream> write)
    {
        string path = Path.Combine(_staging, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var stream = File.Create(path);
        write(stream);
    }

    /// <summary>Replaces the target directory with the staged files.</summary>
    public void Commit()
    {
        if (Directory.Exists(Target)) Directory.Delete(Target, recursive: true);
        Directory.Move(_staging, Target);
        _committed = true;
    }

    public void Dispose()
    {
        if (!_committed && Directory.Exists(_staging)) Directory.Delete(_staging, recursive: true);
    }
}
