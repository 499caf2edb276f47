using System.Buffers.Binary;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Memvisor.Cli;
using Memvisor.Cli.Commands;
using Memvisor.Policy.Snapshot;
using Memvisor.Tests.Guest.Images;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Cli;

/// <summary>Bad snapshots, traces, images and arguments: exit 2 and a located sentence, never a stack trace, a hang or a lost file.</summary>
[Collection(ConsoleCapture.Collection)]
public class HostileInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Snapshot(Func<JsonObject, JsonObject> edit)
    {
        var host = new HostSnapshot
        {
            TimeNs = 10_000_000_000, TotalPages = 100_000, FreePages = 60_000,
            Domains =
            [
                new() { Name = "a", DomId = 1, TotPages = 10_000, TargetPages = 10_000, CurrentPages = 10_000, DynamicMinPages = 5000, DynamicMaxPages = 40_000, StaticMaxPages = 40_000, FeatureBalloon = true,
                        Mrc = new MissCurve { BucketPages = 256, Hits = [5, 4, 3], Cold = 1 } },
                new() { Name = "b", DomId = 2, TotPages = 10_000, TargetPages = 10_000, CurrentPages = 10_000, DynamicMinPages = 5000, DynamicMaxPages = 40_000, StaticMaxPages = 40_000, FeatureBalloon = true },
            ],
        };
        var json = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(host, SnapshotJson.Options))!.AsObject();
        string path = Path.Combine(_dir, $"snap-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, edit(json).ToJsonString());
        return path;
    }

    private static JsonObject Domain(JsonObject s, int i) => s["domains"]![i]!.AsObject();

    public static TheoryData<string, string> BadSnapshots => new()
    {
        { "negative tot_pages", "$.domains[0].tot_pages" },
        { "free above total", "$.free_pages" },
        { "dynamic_min above dynamic_max", "$.domains[1].dynamic_min_pages" },
        { "a domain name twice", "$.domains[1].name" },
        { "a zero MRC bucket", "$.domains[0].mrc.bucket_pages" },
        { "a negative MRC count", "$.domains[0].mrc.hits[1]" },
        { "a count beyond any host", "$.domains[0].swap_ins" },
    };

    [Theory]
    [MemberData(nameof(BadSnapshots))]
    public void Decide_refuses_a_snapshot_no_policy_can_decide_on_with_its_json_path(string why, string path)
    {
        string file = Snapshot(s =>
        {
            switch (why)
            {
                case "negative tot_pages": Domain(s, 0)["tot_pages"] = -5; break;
                case "free above total": s["free_pages"] = 200_000; break;
                case "dynamic_min above dynamic_max": Domain(s, 1)["dynamic_min_pages"] = 50_000; break;
                case "a domain name twice": Domain(s, 1)["name"] = "a"; break;
                case "a zero MRC bucket": Domain(s, 0)["mrc"]!["bucket_pages"] = 0; break;
                case "a negative MRC count": Domain(s, 0)["mrc"]!["hits"]![1] = -1.0; break;
                case "a count beyond any host": Domain(s, 0)["swap_ins"] = long.MaxValue; break;
            }
            return s;
        });
        foreach (var policy in new[] { "squeezed", "esx", "hyperv", "predictive" })
        {
            var (code, stdout, err) = ConsoleCapture.Run(() => DecideCommand.Run(file, policy));
            Assert.Equal(ExitCodes.BadInput, code);
            Assert.StartsWith($"{file}: {path}: this snapshot cannot be decided on: ", err);
            Assert.Empty(stdout);
        }
    }

    [Fact]
    public void Decide_refuses_a_key_given_twice_and_a_fifo()
    {
        string file = Snapshot(s => s);
        File.WriteAllText(file, File.ReadAllText(file).Replace("\"free_pages\":60000", "\"free_pages\":60000,\"free_pages\":1"));
        var (dup, _, err) = ConsoleCapture.Run(() => DecideCommand.Run(file, "mom"));
        Assert.Equal(ExitCodes.BadInput, dup);
        Assert.Contains("free_pages", err);

        string fifo = Path.Combine(_dir, "snap.fifo");
        Process.Start("mkfifo", fifo).WaitForExit();
        var (pipe, _, perr) = ConsoleCapture.Run(() => DecideCommand.Run(fifo, "mom"));
        Assert.Equal(ExitCodes.BadInput, pipe);
        Assert.Contains("is a FIFO (named pipe), not a regular file", perr);
    }

    [Fact]
    public void Trace_convert_never_replaces_a_file_it_did_not_write_and_leaves_nothing_when_the_input_is_bad()
    {
        string good = Path.Combine(_dir, "good.lackey");
        File.WriteAllText(good, string.Concat(Enumerable.Range(0, 2000).Select(i => $" L {0x1000 + i * 64:x},8\n")));
        string bad = Path.Combine(_dir, "bad.lackey");
        File.WriteAllText(bad, string.Concat(Enumerable.Range(0, 9000).Select(i => $" S {0x2000 + i:x},4\n")) + "garbage\n");

        string mine = Path.Combine(_dir, "mine.mvt");
        File.WriteAllText(mine, "my notes, not a trace");
        var (refused, _, err) = ConsoleCapture.Run(() => TraceCommand.Convert(good, mine));
        Assert.Equal(ExitCodes.BadInput, refused);
        Assert.Contains("is not a binary trace Memvisor wrote", err);
        Assert.Equal("my notes, not a trace", File.ReadAllText(mine));

        string output = Path.Combine(_dir, "out.mvt");
        var (failed, _, ferr) = ConsoleCapture.Run(() => TraceCommand.Convert(bad, output));
        Assert.Equal(ExitCodes.BadInput, failed);
        Assert.Contains("bad.lackey:9001:", ferr);
        Assert.False(File.Exists(output));
        Assert.Empty(Directory.GetFiles(_dir, ".out.mvt*"));

        // An earlier binary trace is Memvisor's own: it is replaced, and a failed conversion leaves it as it was.
        Assert.Equal(ExitCodes.Ok, ConsoleCapture.Run(() => TraceCommand.Convert(good, output)).Code);
        var first = File.ReadAllBytes(output);
        Assert.Equal(ExitCodes.BadInput, ConsoleCapture.Run(() => TraceCommand.Convert(bad, output)).Code);
        Assert.Equal(first, File.ReadAllBytes(output));
        Assert.Equal(ExitCodes.Ok, ConsoleCapture.Run(() => TraceCommand.Convert(good, output)).Code);
    }

    [Fact]
    public void Trace_convert_never_replaces_a_symbolic_link_even_to_its_own_earlier_trace()
    {
        string good = Path.Combine(_dir, "good.lackey");
        File.WriteAllText(good, " L 1000,8\n");
        string earlier = Path.Combine(_dir, "earlier.mvt");
        Assert.Equal(ExitCodes.Ok, ConsoleCapture.Run(() => TraceCommand.Convert(good, earlier)).Code);
        foreach (var (link, to) in new[] { ("link.mvt", earlier), ("dangling.mvt", Path.Combine(_dir, "nowhere.mvt")) })
        {
            string path = Path.Combine(_dir, link);
            File.CreateSymbolicLink(path, to);
            var (code, _, err) = ConsoleCapture.Run(() => TraceCommand.Convert(good, path));
            Assert.Equal(ExitCodes.BadInput, code);
            Assert.Contains("is a symbolic link", err);
            Assert.Equal(to, new FileInfo(path).LinkTarget);
        }
    }

    [Fact]
    public void An_over_long_lackey_line_is_reported_at_its_own_line()
    {
        string path = Path.Combine(_dir, "long.lackey");
        File.WriteAllText(path, " L 1000,8\n L 1040,8\n L " + new string('0', 70_000) + ",8\n");
        var (code, _, err) = ConsoleCapture.Run(() => TraceCommand.Convert(path, Path.Combine(_dir, "long.mvt")));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("long.lackey:3: ", err);
    }

    [Fact]
    public void Analyze_refuses_a_core_whose_segments_share_file_bytes_and_a_timing_path_it_may_not_write()
    {
        var core = CoreFile.Build([(0, new byte[8192]), (16, new byte[8192])]);
        // The second PT_LOAD (program header 2) names the first one's bytes: a small file claiming more memory than it holds.
        BinaryPrimitives.WriteUInt64LittleEndian(core.AsSpan(64 + 2 * 56 + 8), BinaryPrimitives.ReadUInt64LittleEndian(core.AsSpan(64 + 56 + 8)));
        string aliased = Path.Combine(_dir, "aliased.core");
        File.WriteAllBytes(aliased, core);
        var (code, _, err) = ConsoleCapture.Run(() => AnalyzeCommand.Run([aliased], "auto", json: true, 256, 2048, "auto", null));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("share file bytes", err);

        string good = Path.Combine(_dir, "good.core");
        File.WriteAllBytes(good, CoreFile.Build([(0, new byte[8192])]));
        string mine = Path.Combine(_dir, "timing.json");
        File.WriteAllText(mine, "{ \"mine\": true }");
        foreach (var (timing, exit) in new[] { (_dir, ExitCodes.BadInput), (mine, ExitCodes.BadInput), ("/proc/memvisor-timing.json", ExitCodes.Failure) })
        {
            var (c, stdout, e) = ConsoleCapture.Run(() => AnalyzeCommand.Run([good], "auto", json: true, 256, 2048, "auto", timing));
            Assert.Equal(exit, c);
            Assert.Empty(stdout);
            Assert.DoesNotContain("   at ", e);
        }
        Assert.Equal("{ \"mine\": true }", File.ReadAllText(mine));
        string fresh = Path.Combine(_dir, "fresh-timing.json");
        Assert.Equal(ExitCodes.Ok, ConsoleCapture.Run(() => AnalyzeCommand.Run([good], "auto", json: true, 256, 2048, "auto", fresh)).Code);
        Assert.Equal(ExitCodes.Ok, ConsoleCapture.Run(() => AnalyzeCommand.Run([good], "auto", json: true, 256, 2048, "auto", fresh)).Code);
    }

    [Fact]
    public void Fit_refuses_a_count_this_machine_could_not_model_and_says_how_many_fit()
    {
        // 4096 guests of 16 GiB maxmem would need hundreds of GiB of this machine's memory just for their page maps.
        string scenario = TinyScenario.Write(_dir, y => y.Replace("memory: 512MiB", "memory: 2GiB").Replace("{ name: a, memory: 64MiB,", "{ name: a, memory: 64MiB, maxmem: 16GiB, allocation: on-demand,"));
        var (code, stdout, err) = ConsoleCapture.Run(() => FitCommand.Run(scenario, "a", "static", "1%", 4096, null));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("--max: 4096 × a cannot be modeled here", err);
        Assert.Matches(@"At most \d+ fit; lower --max\.|Not even one fits\.", err);
        Assert.Empty(stdout);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Compare_refuses_no_jobs_at_once(int jobs)
    {
        string scenario = TinyScenario.Write(_dir);
        var (code, _, err) = ConsoleCapture.Run(() => CompareCommand.Run(scenario, "static", null, Path.Combine(_dir, "cmp"), jobs, quiet: true));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("--jobs", err);
        Assert.False(Directory.Exists(Path.Combine(_dir, "cmp")));
    }
}
