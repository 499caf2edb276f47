using System.Diagnostics;
using Memvisor.Cli;
using Memvisor.Cli.Commands;
using Memvisor.Sim.Scenarios;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Sim;

/// <summary>Every class of bad scenario the hostile pass found is refused at its file, line and field, and nothing runs.</summary>
[Collection(ConsoleCapture.Collection)]
public class ScenarioRefusalTests : IDisposable
{
    private const string Base = """
        name: t
        seed: 1
        duration: 10s
        host:
          memory: 1GiB
          dom0: { memory: 256MiB }
        domains:
          - name: web
            memory: 128MiB
            maxmem: 256MiB
            workload: { kind: steady, working_set: 64MiB, rate: 1000/s }
        """;

    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-refuse-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static ScenarioError Refused(string yaml, string field)
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(yaml, "t.yaml"));
        return Assert.Single(e.Errors, x => x.Field == field);
    }

    public static TheoryData<string, string, string, int, string> Cases => new()
    {
        { "count beside an instance name", Base.Replace("    memory: 128MiB\n", "    count: 2\n    memory: 128MiB\n") + "\n  - { name: web-1, memory: 64MiB, workload: { kind: idle } }", "domains[1].name", 13, "already taken by an instance of 'web'" },
        { "a guest named dom0", Base.Replace("name: web", "name: dom0"), "domains[0].name", 8, "is dom0's name" },
        { "a guest named Domain-0", Base.Replace("name: web", "name: Domain-0"), "domains[0].name", 8, "is dom0's name" },
        { "memory of no pages", Base.Replace("memory: 128MiB", "memory: 1KiB"), "domains[0].memory", 9, "needs at least 16MiB" },
        { "dom0 of no memory", Base.Replace("dom0: { memory: 256MiB }", "dom0: { memory: 0 }"), "host.dom0.memory", 6, "needs at least 16MiB" },
        { "a tmem reserve above the host", Base.Replace("  dom0: { memory: 256MiB }", "  dom0: { memory: 256MiB }\n  tmem: { reserve: 2GiB }"), "host.tmem.reserve", 7, "is not below the host's memory" },
        { "a duration of centuries", Base.Replace("duration: 10s", "duration: 100000h"), "duration", 3, "is above the most Memvisor accepts here" },
        { "a duration that overflows", Base.Replace("duration: 10s", "duration: 99999999999999999999999999h"), "duration", 3, "is not a duration" },
        { "a rate that overflows", Base.Replace("rate: 1000/s", "rate: 100000000000000000000000000000000/s"), "domains[0].workload.rate", 11, "is above the most Memvisor runs here" },
        { "a size that overflows", Base.Replace("memory: 128MiB", "memory: 99999999999999TiB"), "domains[0].memory", 9, "is not a size" },
        { "a key of another workload kind", Base.Replace("rate: 1000/s }", "rate: 1000/s, skew: 0.5 }"), "domains[0].workload.skew", 11, "(that is a key of zipf)" },
        { "a second YAML document", Base + "\n---\nname: other\n", "(file)", 12, "more than one YAML document" },
        { "MB, which may mean 10^6 bytes", Base.Replace("memory: 128MiB", "memory: 256MB"), "domains[0].memory", 9, "MB, GB and TB are refused as ambiguous" },
        { "a guest tick below 1ms", Base + "\nsim: { tick: 0.5ms }", "sim.tick", 12, "at least 1ms" },
        { "more ticks than can run", Base.Replace("duration: 10s", "duration: 700h") + "\nsim: { tick: 10ms }", "duration", 3, "more than 100,000,000 ticks" },
        { "nesting deep enough to overflow a parser", Base + "\ncosts: " + new string('[', 100_000) + new string(']', 100_000), "(syntax)", 12, "nested more than 32 levels" },
        { "aliases that expand without end", Base + "\n" + AliasBomb(), "(syntax)", 32, "aliases expanded" },
        { "a policy deciding every microsecond", Base + "\npolicy: { name: static, interval: 0.001ms }", "policy.interval", 12, "at least 1ms" },
        { "a trace replayed faster than any workload may run", Base.Replace("{ kind: steady, working_set: 64MiB, rate: 1000/s }", "{ kind: trace, path: t.yaml, loop: true, speed: 1000000 }"), "domains[0].workload.speed", 11, "a number from" },
        { "a working set of less than a page", Base.Replace("working_set: 64MiB", "working_set: 1KiB"), "domains[0].workload.working_set", 11, "at least one page" },
        { "a streamed file beyond any disk here", Base.Replace("{ kind: steady, working_set: 64MiB, rate: 1000/s }", "{ kind: file-streaming, file_size: 2TiB, rate: 1000/s }"), "domains[0].workload.file_size", 11, "is above the most Memvisor accepts here" },
        { "a reservation above the default limit", Base.Replace("    maxmem: 256MiB", "    maxmem: 256MiB\n    reservation: 1GiB"), "domains[0].reservation", 11, "is above the limit" },
        { "mom's thresholds the wrong way round", Base + "\npolicy: { name: mom, pressure_threshold: 5%, critical_threshold: 20% }", "policy.critical_threshold", 12, "critical is the lower" },
        { "a key that is a list", Base + "\n[a, b]: 1", "(file)", 12, "a key is a plain name" },
        { "an action naming no domain of the scenario", Base + "\nevents:\n  - { at: 1s, action: mem-set, domain: nobody, memory: 64MiB }", "events[0].domain", 13, "is not a domain of this scenario" },
        { "a NUL in a path, which the YAML escape \\0 writes", Base.Replace("  dom0: { memory: 256MiB }", "  dom0: { memory: 256MiB }\n  paging: { swap_file: \"a\\0b.swap\" }"), "host.paging.swap_file", 7, "may not hold control characters" },
        { "a line break in a trace's path", Base.Replace("{ kind: steady, working_set: 64MiB, rate: 1000/s }", "{ kind: trace, path: \"t\\n.trace\" }"), "domains[0].workload.path", 11, "may not hold control characters" },
        { "more domains than a host has domids", Base + string.Concat(Enumerable.Range(0, 8).Select(i => $"\n  - {{ name: w{i}, count: 4096, memory: 16MiB, workload: {{ kind: idle }} }}")), "domains", 8, "at most 32,751" },
        { "guests too big for this machine to model", Base.Replace("    memory: 128MiB\n", "    count: 4096\n    allocation: on-demand\n    memory: 16MiB\n").Replace("maxmem: 256MiB", "maxmem: 16TiB"), "host.memory", 5, "of this machine's memory" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_bad_scenario_is_refused_at_its_line_and_field(string why, string yaml, string field, int line, string message)
    {
        var e = Refused(yaml, field);
        Assert.True(line == e.Line, $"{why}: refused at line {e.Line}, not {line}: {e}");
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_rate_per_several_seconds_is_read_as_written()
    {
        Assert.True(Units.TryParseRate("1000/2s", out double perSecond));
        Assert.Equal(500, perSecond);
        Assert.True(Units.TryParseRate("60/min", out perSecond));
        Assert.Equal(1, perSecond);
    }

    [Fact]
    public void Run_and_validate_refuse_each_with_exit_2_the_location_and_no_output()
    {
        foreach (var (_, yaml, field, line, _) in new[] { Cases.ElementAt(0), Cases.ElementAt(10), Cases.ElementAt(15) }.Select(Unpack))
        {
            string path = Path.Combine(_dir, "bad.yaml");
            File.WriteAllText(path, yaml);
            string outDir = Path.Combine(_dir, "out");
            var (run, _, err) = ConsoleCapture.Run(() => RunCommand.Run(path, null, outDir, quiet: true));
            Assert.Equal(ExitCodes.BadInput, run);
            Assert.Matches($@"{System.Text.RegularExpressions.Regex.Escape(path)}:{line}:\d+: {System.Text.RegularExpressions.Regex.Escape(field)}: ", err);
            Assert.DoesNotContain("   at ", err);
            Assert.False(Directory.Exists(outDir));
            var (validate, _, _) = ConsoleCapture.Run(() => ValidateCommand.Validate(path));
            Assert.Equal(ExitCodes.BadInput, validate);
        }
    }

    [Fact]
    public void A_fifo_a_directory_or_a_device_given_as_a_scenario_trace_or_image_is_refused_without_waiting()
    {
        string fifo = Path.Combine(_dir, "pipe");
        Process.Start("mkfifo", fifo).WaitForExit();
        foreach (var (path, kind) in new[] { (fifo, "a FIFO"), (_dir, "a directory"), ("/dev/zero", "a character device") })
        {
            var scenario = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadFile(path)).Errors.Single();
            Assert.Equal("(file)", scenario.Field);
            Assert.Contains(kind, scenario.Message);
            var trace = Refused(Base.Replace("{ kind: steady, working_set: 64MiB, rate: 1000/s }", $"{{ kind: trace, path: {path} }}"), "domains[0].workload.path");
            Assert.Contains(kind, trace.Message);
            var image = Refused(Base.Replace("    maxmem: 256MiB", $"    maxmem: 256MiB\n    image: {path}"), "domains[0].image");
            Assert.Contains(kind, image.Message);
        }
    }

    // Each anchor holds two copies of the one before: 30 levels stand for 2^30 nodes.
    private static string AliasBomb()
    {
        var lines = new List<string> { "costs:", "  - &a0 [x]" };
        for (int i = 1; i < 30; i++) lines.Add($"  - &a{i} [*a{i - 1}, *a{i - 1}]");
        return string.Join('\n', lines);
    }

    private static (string, string, string, int, string) Unpack(object?[] row) =>
        ((string)row[0]!, (string)row[1]!, (string)row[2]!, (int)row[3]!, (string)row[4]!);
}
