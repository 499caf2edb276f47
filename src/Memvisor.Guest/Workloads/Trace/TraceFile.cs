using Memvisor.Native;

namespace Memvisor.Guest.Workloads.Trace;

/// <summary>Opens trace files by format, and converts lackey text to the binary format.</summary>
public static class TraceFile
{
    public static readonly IReadOnlyList<string> Formats = ["lackey", "binary"];

    /// <summary>Opens <paramref name="path"/> as <paramref name="format"/> ("lackey" or "binary"; "auto" looks at the first bytes).</summary>
    public static ITraceReader Open(string path, string format = "auto")
    {
        // A FIFO or a device never ends and a directory cannot be read: refused before it is opened.
        if (FileStat.WhyNotRegular(path) is { } why) throw new TraceFormatException($"{path}: the trace {why}.");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        if (format == "auto")
        {
            Span<byte> head = stackalloc byte[8];
            int n = stream.ReadAtLeast(head, 8, throwOnEndOfStream: false);
            stream.Seek(0, SeekOrigin.Begin);
            format = BinaryTrace.HasMagic(head[..n]) ? "binary" : "lackey";
        }
        return format == "binary" ? new BinaryTraceReader(stream, path) : new LackeyTraceReader(stream, path);
    }

    /// <summary>Converts a trace (any format) to the binary format on <paramref name="output"/>, which it closes; returns the records written.</summary>
    public static long Convert(string input, Stream output, CancellationToken cancel = default)
    {
        using var writer = new BinaryTraceWriter(output);
        using var reader = Open(input);
        var buffer = new TraceRecord[4096];
        int n;
        while ((n = reader.Read(buffer)) > 0)
        {
            cancel.ThrowIfCancellationRequested();
            for (int i = 0; i < n; i++) writer.Write(buffer[i]);
        }
        return writer.Records;
    }

    /// <summary>Whether the file at <paramref name="path"/> starts as a binary trace does (so Memvisor wrote it).</summary>
    public static bool IsBinaryTrace(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            Span<byte> head = stackalloc byte[8];
            return BinaryTrace.HasMagic(head[..stream.ReadAtLeast(head, 8, throwOnEndOfStream: false)]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
