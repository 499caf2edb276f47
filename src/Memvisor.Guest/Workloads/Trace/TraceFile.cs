namespace Memvisor.Guest.Workloads.Trace;

/// <summary>Opens trace files by format, and converts lackey text to the binary format.</summary>
public static class TraceFile
{
    public static readonly IReadOnlyList<string> Formats = ["lackey", "binary"];

    /// <summary>Opens <paramref name="path"/> as <paramref name="format"/> ("lackey" or "binary"; "auto" looks at the first bytes).</summary>
    public static ITraceReader Open(string path, string format = "auto")
    {
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

    /// <summary>Converts a trace (any format) to the binary format; returns the records written.</summary>
    public static long Convert(string input, string output)
    {
        using var reader = Open(input);
        using var writer = new BinaryTraceWriter(new FileStream(output, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16));
        var buffer = new TraceRecord[4096];
        int n;
        while ((n = reader.Read(buffer)) > 0)
            for (int i = 0; i < n; i++) writer.Write(buffer[i]);
        return writer.Records;
    }
}
