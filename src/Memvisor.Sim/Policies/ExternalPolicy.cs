using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
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
    private readonly StringBuilder _stderr = new();
    private int _decisions;
    private long _nowNs;

    public string Name => PolicySpec.ExternalName;
    public long IntervalNs => intervalNs;
    // The snapshot carries the curves when the program may want them.
    public bool ReadsMissCurves => true;

    public IReadOnlyList<PolicyAction> Decide(HostSnapshot host)
    {
        _decisions++;
        _nowNs = host.TimeNs;
        var process = _process ?? Start();
        string? answer;
        string line = JsonSerializer.Serialize(host, Line);
        // Written and read under one deadline: a program that reads nothing would otherwise block the write once the pipe is full.
        var write = Task.Run(() =>
        {
            process.StandardInput.WriteLine(line);
            process.StandardInput.Flush();
        });
        var read = process.StandardOutput.ReadLineAsync();
        try
        {
            if (!Task.WaitAll([write, read], TimeSpan.FromTicks(spec.TimeoutNs / 100)))
            {
                Stop();
                throw Failed($"did not answer within {spec.TimeoutNs / 1e9:0.###} s, and was stopped");
            }
            answer = read.Result;
        }
        catch (AggregateException e) when (e.Flatten().InnerExceptions.All(x => x is IOException or ObjectDisposedException))
        {
            answer = null;
        }
        if (answer is null)
        {
            string how = process.WaitForExit(2000) ? $"ended (exit code {process.ExitCode})" : "closed its output";
            Stop();
            throw Failed($"{how} without answering");
        }
        return Actions(answer);
    }

    private Process Start()
    {
        var start = new ProcessStartInfo(spec.Command[0])
        {
            WorkingDirectory = spec.WorkingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardInputEncoding = new UTF8Encoding(false),
        };
        foreach (var a in spec.Command.Skip(1)) start.ArgumentList.Add(a);
        try
        {
            _process = Process.Start(start) ?? throw new Win32Exception("no process");
        }
        catch (Exception e) when (e is Win32Exception or DirectoryNotFoundException)
        {
            throw new ExternalPolicyException($"The external policy's program ({spec.Display}) could not be started in {spec.WorkingDirectory}: {e.Message}.");
        }
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_stderr)
            {
                _stderr.Append(e.Data).Append('\n');
                if (_stderr.Length > 2 * StderrKept) _stderr.Remove(0, _stderr.Length - StderrKept);
            }
        };
        _process.BeginErrorReadLine();
        return _process;
    }

    // The answer: a JSON array of { kind, domain, value }, every value a finite number in range.
    private List<PolicyAction> Actions(string answer)
    {
        List<PolicyAction>? actions;
        try
        {
            actions = JsonSerializer.Deserialize<List<PolicyAction>>(answer, SnapshotJson.Options);
        }
        catch (JsonException e)
        {
            throw Failed($"answered with a line that is not a list of actions (at {e.Path ?? "$"}: {e.Message}): {Excerpt(answer)}");
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
            if (a.Kind != PolicyActionKind.SharingScanRate && string.IsNullOrEmpty(a.Domain))
                throw Failed($"answered action {i} ({kind}) without the domain it is for");
            if (a.Domain is null) actions[i] = a with { Domain = "" };
        }
        return actions;
    }

    private static string Excerpt(string s) => s.Length <= 200 ? $"'{s}'" : $"'{s[..200]}...'";

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
        try
        {
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
