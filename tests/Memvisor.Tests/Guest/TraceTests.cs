using System.IO.Compression;
using Memvisor.Guest.Mm;
using Memvisor.Guest.Workloads;
using Memvisor.Guest.Workloads.Trace;

namespace Memvisor.Tests.Guest;

public sealed class TraceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-trace-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The fixture: `valgrind --tool=lackey --trace-mem=yes /bin/true` (Valgrind 3.19, Debian 12), gzipped.</summary>
    private string Fixture()
    {
        string path = Path.Combine(_dir, "true.lackey");
        using var gz = new GZipStream(File.OpenRead(Path.Combine(AppContext.BaseDirectory, "Fixtures", "true.lackey.gz")), CompressionMode.Decompress);
        using var output = File.Create(path);
        gz.CopyTo(output);
        return path;
    }

    // Counted the plain way, with string splitting, independently of the reader under test.
    private static (long Records, long[] ByKind, int DistinctPages) Count(string path)
    {
        var pages = new HashSet<ulong>();
        var byKind = new long[4];
        long records = 0;
        foreach (var line in File.ReadLines(path))
        {
            if (line.StartsWith("==") || line.Trim().Length == 0) continue;
            var parts = line.Trim().Split([' ', ','], StringSplitOptions.RemoveEmptyEntries);
            ulong address = Convert.ToUInt64(parts[1], 16);
            ulong size = ulong.Parse(parts[2]);
            pages.Add(address >> 12);
            pages.Add((address + size - 1) >> 12);
            byKind["ILSM".IndexOf(parts[0][0])]++;
            records++;
        }
        return (records, byKind, pages.Count);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Replaying_a_real_lackey_trace_reports_its_exact_distinct_pages_and_access_counts(bool binary)
    {
        string lackey = Fixture();
        var (records, byKind, distinct) = Count(lackey);
        string path = lackey;
        if (binary)
        {
            path = Path.Combine(_dir, "true.mvt");
            Assert.Equal(records, TraceFile.Convert(lackey, new FileStream(path, FileMode.CreateNew)));
            Assert.True(new FileInfo(path).Length < new FileInfo(lackey).Length / 4, "the binary format is compact");
        }
        var w = new TraceWorkload("true", () => TraceFile.Open(path), speed: 1.0, loop: false, windowNs: 1_000_000_000);
        var (_, k) = GuestHost.Boot(8192, 0, w, check: false);
        GuestHost.Run(k, 5);
        var s = Assert.Single(w.Processes).Stats;
        Assert.Equal(distinct, s.DistinctPages);
        Assert.Equal(records, s.Accesses);
        Assert.Equal(byKind, new[] { s.Instructions, s.Loads, s.Stores, s.Modifies });
        Assert.Equal(0, s.SegmentationFaults);
        Assert.Equal(1, w.Passes);
        Assert.True(w.Processes[0].Exited, "the process exits at the end of a trace that does not loop");
    }

    [Fact]
    public void Binary_traces_round_trip_every_record()
    {
        var rng = new Random(3);
        var records = Enumerable.Range(0, 20_000).Select(i => new TraceRecord(
            (AccessKind)rng.Next(4), i % 7 == 0 ? (ulong)rng.NextInt64() : 0x7ffd_0000_0000UL + (ulong)rng.Next(1 << 20), (byte)rng.Next(1, 65))).ToArray();
        string path = Path.Combine(_dir, "r.mvt");
        using (var writer = new BinaryTraceWriter(File.Create(path)))
            foreach (var r in records) writer.Write(r);
        using var reader = TraceFile.Open(path);
        var back = new List<TraceRecord>();
        var buffer = new TraceRecord[1000];
        int n;
        while ((n = reader.Read(buffer)) > 0) back.AddRange(buffer.AsSpan(0, n).ToArray());
        Assert.Equal(records, back);
        reader.Rewind();
        Assert.Equal(1000, reader.Read(buffer));
        Assert.Equal(records[0], buffer[0]);
    }

    [Fact]
    public void A_bad_lackey_line_is_reported_with_file_and_line()
    {
        string path = Path.Combine(_dir, "bad.lackey");
        File.WriteAllText(path, "==1== header\nI  0401ab70,3\n L 1fff000558,8\n X 12,4\n");
        using var reader = TraceFile.Open(path);
        var e = Assert.Throws<TraceFormatException>(() => reader.Read(new TraceRecord[16]));
        Assert.Equal($"{path}:4: this is not a lackey trace line: the line does not start with I, L, S or M.", e.Message);
    }

    [Fact]
    public void A_looped_trace_keeps_its_pages_and_samples_its_working_set()
    {
        string path = Path.Combine(_dir, "loop.lackey");
        // 64 distinct pages, touched over and over.
        File.WriteAllLines(path, Enumerable.Range(0, 640).Select(i => $" L {0x10000000 + (i % 64) * 4096:x},8"));
        var w = new TraceWorkload("loop", () => TraceFile.Open(path), speed: 0.001, loop: true, windowNs: 200_000_000);
        var (_, k) = GuestHost.Boot(8192, 0, w, check: false);
        GuestHost.Run(k, 10);
        var p = Assert.Single(w.Processes);
        Assert.Equal(64, p.Stats.DistinctPages);
        Assert.True(w.Passes > 100);
        Assert.Equal(64, p.WorkingSetPages);
    }
}
