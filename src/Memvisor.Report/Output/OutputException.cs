namespace Memvisor.Report.Output;

/// <summary>Why an output could not be written: the user's own files are in the way (refused) or the file system failed.</summary>
public enum OutputFailure
{
    /// <summary>The target holds something Memvisor did not write; nothing was touched (exit 2).</summary>
    Refused,
    /// <summary>The file system refused a write (permission, full disk, a file where a directory should be); exit 1.</summary>
    WriteFailed,
}

/// <summary>An output directory or file that could not be prepared or committed; the message is a sentence naming the path.</summary>
public sealed class OutputException(OutputFailure failure, string message, Exception? inner = null) : Exception(message, inner)
{
    public OutputFailure Failure { get; } = failure;

    /// <summary>A write failure from an I/O exception, as one sentence that names the path and what was being done.</summary>
    public static OutputException From(Exception e, string path, string doing) =>
        new(OutputFailure.WriteFailed, $"{path}: {doing} failed: {Reason(e)}", e);

    /// <summary>The cause of an I/O error in words, without a stack trace.</summary>
    public static string Reason(Exception e) => e switch
    {
        UnauthorizedAccessException => "permission denied (or a read-only file system).",
        PathTooLongException => "a name in the path is too long.",
        DirectoryNotFoundException => "a directory on the path does not exist, or is a file.",
        _ when e.HResult == 28 || e.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase) => "no space left on the device.",
        _ => e.Message.TrimEnd('.') + ".",
    };
}
