using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Memvisor.Native;
using Memvisor.Policy;
using Memvisor.Policy.Snapshot;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Sim.Policies;

/// <summary>
/// A policy that is a program of the user's (<c>policy: { name: external, command: [...] }</c>): started at the first
/// decision in the scenario file's directory, it gets each snapshot as one line of JSON on its stdin (the JSON
/// <c>run --snapshots</c> writes, on one line) and answers one line on its stdout, a JSON array of actions as
/// <c>memvisor decide</c> prints them. A program that cannot start, ends, takes longer than the timeout over a decision
/// or answers anything but a list of actions stops the run (<see cref="ExternalPolicyException"/>). The protocol's
/// schemas: <c>memvisor schema snapshot</c> and <c>memvisor schema actions</c>.
/// </summary>
public sealed class ExternalPolicy(ExternalPolicySpec spec, long intervalNs) : IPolicy, IDisposable
{
    private static readonly JsonSerializerOptions Line = new(SnapshotJson.Options) { WriteIndented = false };
    // The largest value an action may carry: pages or pages per second, as a snapshot's counts are bounded.
    private const double MaxValue = 1L << 40;
    private const int StderrKept = 2048;

    private Process? _process;
    private PolicyProgramOutput? _output;
    private Task<string?>? _next;
    private readonly StringBuilder _stderr = new();
    private int _decisions;
    private long _nowNs;
    // A line longer than this is not an answer (a snapshot of 65,536 domains is smaller).
    private const int MaxAnswerChars = 16 << 20;

    public string Name => PolicySpec.ExternalName;
    public long IntervalNs => intervalNs;
    // The snapshot carries the curves when the program may want them.
    public bool ReadsMissCurves => true;
    /// <summary>The run's cancellation: a decision waiting for the program stops with it (the simulation sets it).</summary>
    public CancellationToken Cancellation { get; set; }

    public IReadOnlyList<PolicyAction> Decide(HostSnapshot host)
    {
        _decisions++;
        _nowNs = host.TimeNs;
        var process = _process ?? Start();
        // The read begun after the last answer: a line already there was written before this snapshot was.
        if (_output!.HasMore || _next is { IsCompletedSuccessfully: true, Result: not null })
            throw Stopped("answered more than one line to the decision before");
        string? answer;
        string line = JsonSerializer.Serialize(host, Line);
        // Written and read under one deadline: a program that reads nothing would otherwise block the write once the pipe is full.
        var write = Task.Run(() =>
        {
            process.StandardInput.WriteLine(line);
            process.StandardInput.Flush();
        });
        var read = _next ?? _output.ReadLineAsync(Cancellation);
        _next = null;
        try
        {
            if (!Task.WaitAll(new Task[] { write, read }, (int)Math.Min(int.MaxValue, spec.TimeoutNs / 1_000_000), Cancellation))
                throw Stopped($"did not answer within {spec.TimeoutNs / 1e9:0.###} s, and was stopped");
            answer = read.Result;
        }
        catch (OperationCanceledException)
        {
            Stop();
            throw;
        }
        catch (AggregateException e) when (e.Flatten().InnerExceptions.Any(x => x is LineTooLongException))
        {
            throw Stopped($"answered a line longer than {MaxAnswerChars >> 20} Mi characters, and was stopped");
        }
        catch (AggregateException e) when (e.Flatten().InnerExceptions.All(x => x is IOException or ObjectDisposedException))
        {
            answer = null;
        }
        if (answer is null)
        {
            string how = process.WaitForExit(2000) ? $"ended (exit code {process.ExitCode})" : "closed its output";
            throw Stopped($"{how} without answering");
        }
        // Listens on at once, so that a line the program writes unasked is caught at the next decision.
        _next = _output.ReadLineAsync(Cancellation);
        return Actions(answer, host);
    }

    private Process Start()
    {
        string program = Resolve(spec.Command[0]) ?? throw new ExternalPolicyException(spec.Command[0].Contains('/')
            ? $"The external policy's program ({spec.Display}) could not be started: {spec.Command[0]} does not exist."
            : $"The external policy's program ({spec.Display}) could not be started: {spec.Command[0]} is not an executable file on PATH ({Environment.GetEnvironmentVariable("PATH")}).");
        // As the leader of a process group of its own (setsid), so that whatever it starts ends with it.
        var start = new ProcessStartInfo("setsid")
        {
            WorkingDirectory = spec.WorkingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardInputEncoding = new UTF8Encoding(false),
        };
        start.ArgumentList.Add(program);
        foreach (var a in spec.Command.Skip(1)) start.ArgumentList.Add(a);
        try
        {
            _process = Process.Start(start) ?? throw new Win32Exception("no process");
        }
        catch (Exception e) when (e is Win32Exception or DirectoryNotFoundException)
        {
            throw new ExternalPolicyException($"The external policy's program ({spec.Display}) could not be started in {spec.WorkingDirectory}: {e.Message}.");
        }
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
        _output = new PolicyProgramOutput(_process.StandardOutput, MaxAnswerChars);
        var stderr = _process.StandardError;
        // Its stderr in chunks, only the last 2 KiB kept: a line that never ends costs nothing.
        _ = Task.Run(async () =>
        {
            var chunk = new char[4096];
            try
            {
                for (int n; (n = await stderr.ReadAsync(chunk.AsMemory())) > 0;)
                    lock (_stderr)
                    {
                        _stderr.Append(chunk, 0, n);
                        if (_stderr.Length > 2 * StderrKept) _stderr.Remove(0, _stderr.Length - StderrKept);
                    }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException) { }
        });
        return _process;
    }

    // A program named with a slash was made a full path from the scenario's directory; a bare name is looked up on PATH only.
    private static string? Resolve(string program)
    {
        if (program.Contains('/')) return File.Exists(program) ? program : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!Path.IsPathRooted(dir)) continue;
            string candidate = Path.Combine(dir, program);
            if (File.Exists(candidate) && !OperatingSystem.IsWindows() && (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0)
                return candidate;
        }
        return null;
    }

    private void OnProcessExit(object? sender, EventArgs e) => Stop();

    // The answer: a JSON array of { kind, domain, value }, every value a finite number in range.
    private List<PolicyAction> Actions(string answer, HostSnapshot host)
    {
        List<PolicyAction>? actions;
        try
        {
            actions = JsonSerializer.Deserialize<List<PolicyAction>>(answer, SnapshotJson.Options);
        }
        catch (JsonException e)
        {
            throw Failed($"answered with a line that is not a list of actions (at {e.Path ?? "$"}: {e.Message}): '{Excerpt(answer)}'");
        }
        if (actions is null) throw Failed($"answered null, not a list of actions (give [] for none)");
        for (int i = 0; i < actions.Count; i++)
        {
            var a = actions[i];
            if (a is null) throw Failed($"answered null as action {i}");
            string kind = JsonNamingPolicy.SnakeCaseLower.ConvertName(a.Kind.ToString());
            if (!double.IsFinite(a.Value) || a.Value > MaxValue)
                throw Failed($"answered action {i} ({kind}) with the value {a.Value.ToString(CultureInfo.InvariantCulture)}; values are pages or pages per second, at most 2^40");
            if (a.Value < 0 && !(a.Kind == PolicyActionKind.PagingTarget && a.Value == -1))
                throw Failed($"answered action {i} ({kind}) with a negative value ({a.Value.ToString(CultureInfo.InvariantCulture)}; only paging_target takes -1, to stop paging)");
            if (a.Domain is null)
                throw Failed($"answered action {i} ({kind}) without its domain (\"\" for sharing_scan_rate)");
            if (a.Kind != PolicyActionKind.SharingScanRate && !host.Domains.Any(d => d.Name == a.Domain))
                throw Failed($"answered action {i} ({kind}) for the domain '{Excerpt(a.Domain)}', which the snapshot does not have");
            if (a.Kind is PolicyActionKind.MemSet or PolicyActionKind.HotAdd or PolicyActionKind.PagingTarget && a.Value != Math.Floor(a.Value))
                throw Failed($"answered action {i} ({kind}) with {a.Value.ToString(CultureInfo.InvariantCulture)} pages; pages are whole");
        }
        return actions;
    }

    private static string Excerpt(string s) => s.Length <= 200 ? s : $"{s[..200]}...";

    // The program stopped, then the failure said.
    private ExternalPolicyException Stopped(string what)
    {
        var failure = Failed(what);
        Stop();
        return failure;
    }

    private ExternalPolicyException Failed(string what)
    {
        string stderr;
        lock (_stderr) stderr = _stderr.ToString().Trim();
        if (stderr.Length > StderrKept) stderr = "..." + stderr[^StderrKept..];
        return new ExternalPolicyException($"The external policy's program ({spec.Display}) {what}, at decision {_decisions} (simulated {_nowNs / 1e9:0.###} s)."
            + (stderr.Length > 0 ? $" It wrote on stderr: '{stderr}'." : ""));
    }

    private void Stop()
    {
        if (_process is null) return;
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        try
        {
            // The whole group: the program and whatever it started, even if it has exited and left them behind.
            ProcessGroup.KillAll(_process.Id);
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(2000);
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
        _process = null;
    }

    /// <summary>Ends the program: its stdin is closed so it may finish on its own, and it is killed if it has not within a second.</summary>
    public void Dispose()
    {
        if (_process is null) return;
        try
        {
            _process.StandardInput.Close();
            _process.WaitForExit(1000);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException) { }
        Stop();
    }
}

/// <summary>The external policy's program failed the protocol; the sentence says how. The run stops with no results.</summary>
public sealed class ExternalPolicyException(string message) : Exception(message);
