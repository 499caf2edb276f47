using System.Text.Json;
using Memvisor.Cli;
using Memvisor.Cli.Commands;
using Memvisor.Sim.Scenarios;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Cli;

/// <summary>
/// policy: { name: external, command: [...] }: a program of the user's reads each snapshot as a line of JSON and
/// answers a line of actions. The Python example runs in a scenario and in a sweep; a program that crashes, hangs or
/// answers garbage stops the run with a sentence saying so, exit 1, and nothing written.
/// </summary>
[Collection(ConsoleCapture.Collection)]
public sealed class ExternalPolicyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-external-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Example(string name) => Path.Combine(AppContext.BaseDirectory, "examples", name);

    [Fact]
    public void The_Python_example_moves_balloon_targets_as_it_decides_and_runs_the_same_twice()
    {
        string a = Path.Combine(_dir, "a"), b = Path.Combine(_dir, "b");
        foreach (var target in new[] { a, b })
        {
            var (code, _, err) = ConsoleCapture.Run(() => RunCommand.Run(Example("external-policy.yaml"), null, target, quiet: true));
            Assert.True(code == ExitCodes.Ok, err);
        }
        Assert.Equal(File.ReadAllBytes(Path.Combine(a, "summary.json")), File.ReadAllBytes(Path.Combine(b, "summary.json")));
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(a, "summary.json")));
        var policy = json.RootElement.GetProperty("policy");
        Assert.Equal("external", policy.GetProperty("name").GetString());
        Assert.Equal(12, policy.GetProperty("decisions").GetInt64());
        Assert.True(policy.GetProperty("actions").GetProperty("mem_set").GetInt64() > 0);
        var memory = json.RootElement.GetProperty("domains").EnumerateArray().ToDictionary(d => d.GetProperty("name").GetString()!, d => d.GetProperty("memory_kib").GetInt64() >> 10);
        // The busy guest is given what it uses and a quarter more; the idle ones give theirs up.
        Assert.True(memory["busy"] > 512 && memory["idle-1"] < 384 && memory["idle-2"] < 384, string.Join(", ", memory));
    }

    [Fact]
    public void The_example_runs_in_a_sweep()
    {
        string target = Path.Combine(_dir, "sweep");
        var (code, _, err) = ConsoleCapture.Run(() => SweepCommand.Run(Example("external-sweep.yaml"), target, jobs: 2, quiet: true));
        Assert.True(code == ExitCodes.Ok, err);
        var rows = File.ReadAllLines(Path.Combine(target, "results", "sweep.csv")).Skip(1).ToList();
        Assert.Equal(6, rows.Count);
        Assert.All(rows, r => Assert.Equal("external", r.Split(',')[5]));
    }

    // A scenario whose policy is a Python program given inline.
    private string Scenario(string program, string timeout = "5s")
    {
        File.WriteAllText(Path.Combine(_dir, "policy.py"), program);
        return TinyScenario.Write(_dir, y => y.Replace("duration: 2s", "duration: 20s")
            + $"\npolicy: {{ name: external, command: [python3, policy.py], interval: 5s, timeout: {timeout} }}\n");
    }

    [Theory]
    [InlineData("import sys\nsys.stdin.readline()\nprint('bye', file=sys.stderr)\nsys.exit(3)\n", "ended (exit code 3) without answering, at decision 1", "bye", "10s")]
    [InlineData("import sys, time\nsys.stdin.readline()\ntime.sleep(60)\n", "did not answer within 0.5 s, and was stopped", null, "500ms")]
    [InlineData("import sys\nfor line in sys.stdin:\n    print('hello', flush=True)\n", "answered with a line that is not a list of actions", "'hello'", "10s")]
    [InlineData("import sys\nsys.stdin.readline()\nsys.stdout.write('[')\nwhile True:\n    sys.stdout.write(' ' * 65536)\n", "answered a line longer than 16 Mi characters, and was stopped", null, "20s")]
    [InlineData("import sys\nfor line in sys.stdin:\n    print('[]')\n    print('[]', flush=True)\n", "answered more than one line to the decision before, at decision 2", null, "10s")]
    [InlineData("import sys\nfor line in sys.stdin:\n    print('[{\"kind\": \"mem_set\", \"domain\": \"nobody\", \"value\": 5}]', flush=True)\n", "for the domain 'nobody', which the snapshot does not have", null, "10s")]
    [InlineData("import sys\nfor line in sys.stdin:\n    print('[{\"kind\": \"mem_set\", \"domain\": \"a\", \"value\": 5.5}]', flush=True)\n", "with 5.5 pages; pages are whole", null, "10s")]
    [InlineData("import sys\nfor line in sys.stdin:\n    print('[{\"kind\": \"mem_set\", \"domain\": \"a\", \"value\": -5}]', flush=True)\n", "with a negative value (-5; only paging_target takes -1", null, "10s")]
    [InlineData("import sys\nfor line in sys.stdin:\n    print('[{\"kind\": \"explode\", \"domain\": \"a\", \"value\": 1}]', flush=True)\n", "not a list of actions (at $[0].kind", null, "10s")]
    public void A_program_that_crashes_hangs_or_answers_garbage_stops_the_run_with_nothing_written(string program, string says, string? alsoSays, string timeout)
    {
        string scenario = Scenario(program, timeout), target = Path.Combine(_dir, "out");
        var (code, _, err) = ConsoleCapture.Run(() => RunCommand.Run(scenario, null, target, quiet: true));
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("The external policy's program (python3 policy.py)", err);
        Assert.True(err.Contains(says, StringComparison.Ordinal), err);
        if (alsoSays is not null) Assert.Contains(alsoSays, err);
        Assert.Contains("No results were written.", err);
        Assert.DoesNotContain("   at ", err);
        Assert.False(Directory.Exists(target));
    }

    [Fact]
    public void A_program_named_by_a_path_is_the_scenario_directorys_and_what_it_leaves_running_is_stopped_with_it()
    {
        // Started from the scenario's directory whatever the current one; it forks a child that holds its output, then ends.
        string program = Path.Combine(_dir, "forks.py"), pidFile = Path.Combine(_dir, "child.pid");
        File.WriteAllText(program, "#!/usr/bin/env python3\nimport os, sys, time\nsys.stdin.readline()\npid = os.fork()\nif pid == 0:\n    time.sleep(300)\n"
            + $"open({JsonSerializer.Serialize(pidFile)}, 'w').write(str(pid))\nsys.exit(0)\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(program, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string scenario = TinyScenario.Write(_dir, y => y + "\npolicy: { name: external, command: [./forks.py], interval: 1s, timeout: 3s }\n");
        Assert.NotEqual(Path.GetFullPath(_dir), Directory.GetCurrentDirectory());
        var (code, _, err) = ConsoleCapture.Run(() => RunCommand.Run(scenario, null, Path.Combine(_dir, "out"), quiet: true));
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("did not answer within 3 s", err);
        int child = int.Parse(File.ReadAllText(pidFile), System.Globalization.CultureInfo.InvariantCulture);
        // SIGKILL is delivered asynchronously: on a loaded machine the child may take a moment to go.
        static bool Running(int pid)
        {
            try
            {
                return Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal);
            }
            catch (IOException)
            {
                return false;
            }
        }
        for (int i = 0; i < 50 && Running(child); i++) Thread.Sleep(100);
        Assert.False(Running(child), $"the policy program's child {child} is still running 5 s after the run");
    }

    [Fact]
    public void A_program_that_cannot_start_stops_the_run()
    {
        string scenario = TinyScenario.Write(_dir, y => y + "\npolicy: { name: external, command: [./no-such-policy], interval: 1s }\n");
        var (code, _, err) = ConsoleCapture.Run(() => RunCommand.Run(scenario, null, Path.Combine(_dir, "out"), quiet: true));
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains($"could not be started: {Path.Combine(_dir, "no-such-policy")} does not exist.", err);
    }

    [Theory]
    [InlineData("policy: { name: external }", "policy.command")]
    [InlineData("policy: { name: external, command: python3 }", "policy.command")]
    [InlineData("policy: { name: external, command: [] }", "policy.command")]
    [InlineData("policy: { name: external, command: [python3, ''] }", "policy.command[1]")]
    [InlineData("policy: { name: mom, command: [python3, p.py] }", "policy.command")]
    [InlineData("policy: { name: external, command: [p], timeout: 0s }", "policy.timeout")]
    public void A_bad_external_policy_is_refused_at_its_key(string policy, string field)
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(TinyScenario.Yaml + "\n" + policy + "\n", "t.yaml"));
        Assert.Equal(field, Assert.Single(e.Errors).Field);
    }
}
