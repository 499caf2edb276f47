using System.CommandLine;
using System.Net.Sockets;
using Memvisor.Daemon.Control;
using Memvisor.Daemon.Host;
using Memvisor.Daemon.Libvirt;
using Memvisor.Daemon.Metrics;
using Memvisor.Daemon.Qmp;
using Memvisor.Daemon.Recording;
using Memvisor.Daemon.Vms;
using Memvisor.Native;
using Memvisor.Report.Output;
using Memvisor.Sim.Policies;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Cli.Commands;

/// <summary>
/// <c>memvisor daemon --policy NAME VM...</c>: a policy the lab runs, driving real QEMU/KVM VMs through their QMP
/// sockets: every interval a snapshot from the VMs' balloons and statistics and the host's memory, the policy's
/// decision, its actions carried out within the safety rules, each logged as a JSON line (docs/daemon.md).
/// </summary>
public static class DaemonCommand
{
    public static Command Build()
    {
        var vms = new Argument<string[]>("vm") { Description = "A VM's QMP socket (QEMU's -qmp unix:PATH,server=on,wait=off), or a directory whose sockets are all VMs' monitors; with --libvirt, a domain's name (default: every running domain).", Arity = ArgumentArity.ZeroOrMore };
        var libvirt = new Option<string?>("--libvirt") { Description = "Reach the VMs through libvirt at this URI (qemu:///system) instead of QMP sockets: for hosts whose QEMUs libvirtd owns." };
        var policy = new Option<string>("--policy")
        {
            Description = $"The policy: {string.Join(", ", PolicySpec.Names)} (default settings), or a scenario file whose policy (its settings, or an external program) to run.",
            Required = true,
        };
        var interval = new Option<string>("--interval") { Description = "Time between decisions, 100ms to 24h (500ms, 10s, 1min; a bare number is seconds). Default: 10s.", DefaultValueFactory = _ => "10s" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Log every decision and the actions it would take, and carry none out." };
        var hostMemory = new Option<string?>("--host-memory") { Description = "Treat the host as having this much memory for its VMs (MiB, or with KiB/MiB/GiB/TiB): free is this less what the VMs hold. Default: the host's MemTotal and MemAvailable." };
        var floor = new Option<string>("--floor") { Description = "No VM's balloon target goes below this (MiB). The guest's own floor, what it uses plus --headroom, applies as well. Default: 0.", DefaultValueFactory = _ => "0" };
        var headroom = new Option<string>("--headroom") { Description = "Memory a guest keeps above what it uses (MiB). Default: 32.", DefaultValueFactory = _ => "32" };
        var maxStep = new Option<string>("--max-step") { Description = "The most a target moves from what a VM holds in one step (MiB). Default: 128.", DefaultValueFactory = _ => "128" };
        var stuckAfter = new Option<int>("--stuck-after") { Description = "Steps without progress toward a lower target after which a VM is stuck and left alone. Default: 3.", DefaultValueFactory = _ => 3 };
        var ksm = new Option<string>("--ksm") { Description = "on: the policy may set KSM's rate (root, /sys/kernel/mm/ksm); off: KSM is left as it is. Default: on.", DefaultValueFactory = _ => "on" };
        var metrics = new Option<string?>("--metrics") { Description = "Serve Prometheus metrics at http://HOST:PORT/metrics (:PORT listens on every address)." };
        var log = new Option<string?>("--log") { Description = "Append the JSON-lines log to this file. Default: standard output." };
        var steps = new Option<string?>("--steps") { Description = "Stop after this many decisions. Default: run until SIGTERM or SIGINT." };
        var record = new Option<string?>("--record") { Description = "When the daemon stops, write what it read as a scenario (as memvisor record does) with its policy, and decisions.csv with every action, into this directory." };
        var command = new Command("daemon", "Run a policy on real QEMU/KVM VMs: balloon targets, virtio-mem and KSM set from the VMs' statistics, with safety rules, a JSON-lines log and Prometheus metrics.")
        {
            vms, policy, interval, dryRun, hostMemory, floor, headroom, maxStep, stuckAfter, ksm, metrics, log, steps, record, libvirt,
        };
        command.SetAction(p => Run(new Arguments(p.GetValue(vms)!, p.GetValue(policy)!, p.GetValue(interval)!, p.GetValue(dryRun), p.GetValue(hostMemory),
            p.GetValue(floor)!, p.GetValue(headroom)!, p.GetValue(maxStep)!, p.GetValue(stuckAfter), p.GetValue(ksm)!, p.GetValue(metrics), p.GetValue(log), p.GetValue(steps), p.GetValue(record), p.GetValue(libvirt)), Interrupt.Token));
        return command;
    }

    public sealed record Arguments(string[] Vms, string Policy, string Interval, bool DryRun, string? HostMemory, string Floor, string Headroom, string MaxStep,
        int StuckAfter, string Ksm, string? Metrics, string? Log, string? Steps, string? Record = null, string? Libvirt = null);

    public static int Run(Arguments a, CancellationToken stop) => Guard.Run(() => RunGuarded(a, stop));

    private static int RunGuarded(Arguments a, CancellationToken stop)
    {
        // A stop lets the step under way give up on its reads, but an action already sent may wait out a QEMU's 5 s timeout, and --record writes its files after.
        Interrupt.GracePeriod = TimeSpan.FromSeconds(15);
        Interrupt.DeadlineMessage = "memvisor: daemon: stopped without finishing: a VM did not answer in time after the signal. The VMs keep the targets they were last asked for.";
        if (!Units.TryParseDuration(a.Interval, out long intervalNs) || intervalNs < 100_000_000 || intervalNs > 86_400_000_000_000)
            return Refuse($"--interval: '{a.Interval}' is not an interval from 100ms to 24h; write a number with ms, s, min or h.");
        PolicySpec spec;
        if (PolicySpec.Names.Contains(a.Policy)) spec = new PolicySpec { Name = a.Policy, IntervalNs = intervalNs };
        else if (FileStat.KindOf(a.Policy) == FileKind.Regular)
        {
            // A scenario's policy: its settings, or its external program (resolved against the scenario's directory).
            if (!ScenarioSource.TryLoad(a.Policy, out var scenario)) return ExitCodes.BadInput;
            if (scenario.Policy is not { } own)
                return Refuse($"--policy: {a.Policy} names no policy (policy: {{ name: ..., ... }}); give one of {string.Join(", ", PolicySpec.Names)} or a scenario that has one.");
            spec = own with { IntervalNs = intervalNs };
        }
        else return Refuse($"--policy: '{a.Policy}' is neither a policy ({string.Join(", ", PolicySpec.Names)}) nor a scenario file.");
        long? budget = null;
        if (a.HostMemory is not null)
        {
            if (!Units.TryParseSize(a.HostMemory, out long b) || b <= 0) return Refuse($"--host-memory: '{a.HostMemory}' is not a size; write MiB, or a number with KiB, MiB, GiB or TiB.");
            budget = b;
        }
        if (!Size("--floor", a.Floor, out long floorBytes) || !Size("--headroom", a.Headroom, out long headroomBytes) || !Size("--max-step", a.MaxStep, out long stepBytes))
            return ExitCodes.BadInput;
        if (stepBytes < 1 << 20) return Refuse($"--max-step: '{a.MaxStep}' is less than 1 MiB; a target could never move.");
        if (a.StuckAfter is < 1 or > 1000) return Refuse($"--stuck-after: {a.StuckAfter} is not a count of steps from 1 to 1000.");
        if (a.Ksm is not ("on" or "off")) return Refuse($"--ksm: '{a.Ksm}' is neither on nor off.");
        long maxSteps = long.MaxValue;
        if (a.Steps is not null && (!long.TryParse(a.Steps, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out maxSteps) || maxSteps < 1))
            return Refuse($"--steps: '{a.Steps}' is not a count of steps (1 or more).");
        if (a.Libvirt is not null && a.Vms.FirstOrDefault(v => v.StartsWith('-')) is { } unknown)
            return Refuse($"'{unknown}' is not an option of memvisor daemon; see memvisor daemon --help.");
        if (a.Metrics is not null)
        {
            try
            {
                MetricsServer.Parse(a.Metrics);
            }
            catch (ArgumentException e)
            {
                return Refuse($"--metrics: {e.Message}");
            }
        }
        List<string>? sockets = null;
        if (a.Libvirt is null && (sockets = Sockets(a.Vms, "daemon")) is null) return ExitCodes.BadInput;
        if (a.Log is not null && FileStat.KindOf(a.Log) is not (FileKind.Missing or FileKind.Regular))
            return Refuse($"--log: {a.Log} is not a file the log can be appended to.");
        if (a.Log is not null && FileStat.KindOf(Path.GetDirectoryName(Path.GetFullPath(a.Log))!) != FileKind.Directory)
            return Refuse($"--log: the directory of {a.Log} does not exist.");

        var options = new DaemonOptions
        {
            Interval = TimeSpan.FromTicks(intervalNs / 100),
            DryRun = a.DryRun,
            HostMemoryBytes = budget,
            FloorBytes = floorBytes,
            HeadroomBytes = headroomBytes,
            MaxStepBytes = stepBytes,
            StuckAfter = a.StuckAfter,
            ControlKsm = a.Ksm == "on",
        };
        var policy = PolicyFactory.Create(spec);
        // QEMU polls the guests' statistics at the daemon's interval (at least every second), so each step reads fresh ones.
        int statsSeconds = (int)Math.Clamp(intervalNs / 1_000_000_000, 1, 3600);
        // A dry run changes nothing, not even how often QEMU polls the guests' statistics.
        var (vms, connection, why) = Connect(sockets, a.Libvirt, a.Vms, statsSeconds, setStatsPolling: !a.DryRun);
        if (why is not null)
        {
            Console.Error.WriteLine($"memvisor: daemon: {Errors.Printable(why)}");
            return ExitCodes.Failure;
        }
        TextWriter? logFile = null;
        MetricsServer? server = null;
        // The record's directory is checked (and staged) before the daemon starts, so a directory it may not write costs nothing.
        using var recordDir = a.Record is null ? null : OutputDirectory.Prepare(a.Record, "daemon");
        try
        {
            var daemonMetrics = new DaemonMetrics();
            if (a.Metrics is not null)
            {
                try
                {
                    server = new MetricsServer(a.Metrics, daemonMetrics);
                }
                catch (SocketException e)
                {
                    Console.Error.WriteLine($"memvisor: daemon: --metrics: nothing can listen on {a.Metrics}: {e.Message.TrimEnd('.')}.");
                    return ExitCodes.Failure;
                }
            }
            // The log is opened last, so that a refused option leaves no file behind.
            if (a.Log is not null)
            {
                try
                {
                    logFile = new StreamWriter(a.Log, append: true);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return Refuse($"--log: {a.Log} cannot be appended to: {e.Message.TrimEnd('.')}.");
                }
            }
            var daemon = new HostDaemon(vms, policy, options, new DecisionLog(logFile ?? Console.Out), () => MemInfo.Read(), new Ksm(), daemonMetrics);
            var recording = new RecordingBuilder(vms.Count);
            var decisions = new DecisionsCsv();
            var floors = new Dictionary<string, long>();
            if (recordDir is not null)
                daemon.Stepped += (t, states, outcomes) =>
                {
                    for (int i = 0; i < states.Count; i++)
                        if (states[i].Last is { } r && !states[i].Unresponsive)
                        {
                            recording.Add(t, i, r, states[i].Name);
                            floors.TryAdd(states[i].Name, states[i].FloorBytes);
                        }
                    decisions.Add(t, outcomes);
                };
            var started = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                daemon.Run(stop, maxSteps);
            }
            catch (IOException e)
            {
                Console.Error.WriteLine($"memvisor: daemon: the log ({a.Log ?? "standard output"}) could not be written, so the daemon stopped: {Errors.Printable(e.Message.TrimEnd('.'))}.");
                return ExitCodes.Failure;
            }
            if (recordDir is not null)
            {
                if (recording.First.All(f => f is null))
                {
                    Console.Error.WriteLine($"memvisor: daemon: no VM answered, so nothing was recorded into {recordDir.Target}.");
                    return ExitCodes.Failure;
                }
                long hostBytes = budget ?? MemInfo.Read().TotalBytes;
                var recorded = recording.Build(options.Interval.TotalSeconds, started.Elapsed.TotalSeconds, hostBytes, budget is not null);
                var domains = RecordCommand.DomainNames([.. recorded.Vms.Select(v => v.Name)]);
                var domainOf = recorded.Vms.Select((v, i) => (v.Name, domains[i])).ToDictionary(p => p.Name, p => p.Item2);
                // An external program is the user's and may not be where the scenario goes: the replay names the policy only when it is Memvisor's own.
                var replayPolicy = PolicySpec.Names.Contains(spec.Name) ? new RecordCommand.DaemonPolicy(spec.Name, options.Interval.TotalSeconds, floors) : null;
                RecordCommand.Write(recordDir, recorded, 20_000, replayPolicy, decisions.Write(domainOf), "memvisor daemon --record");
            }
            return ExitCodes.Ok;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            Console.Error.WriteLine($"memvisor: daemon: {Errors.Printable(e.Message)}");
            return ExitCodes.Failure;
        }
        finally
        {
            server?.Dispose();
            try
            {
                logFile?.Dispose();
            }
            catch (IOException)
            {
                // Said above: the log could not be written.
            }
            foreach (var vm in vms) vm.Dispose();
            connection?.Dispose();
            (policy as IDisposable)?.Dispose();
        }
    }

    /// <summary>The VMs to drive: QMP sockets, or libvirt's domains (the names given, or every running one); why not, where libvirt cannot be used.</summary>
    public static (List<IVm> Vms, LibvirtConnection? Connection, string? Why) Connect(List<string>? sockets, string? libvirtUri, string[] names, int statsSeconds, bool setStatsPolling = true)
    {
        if (libvirtUri is null) return ([.. sockets!.Select(s => (IVm)new QemuVm(s, TimeSpan.FromSeconds(5), statsSeconds, setStatsPolling))], null, null);
        LibvirtConnection connection;
        try
        {
            connection = LibvirtConnection.Open(libvirtUri);
        }
        catch (VmUnreachableException e)
        {
            return ([], null, e.Message);
        }
        try
        {
            var running = connection.RunningDomains();
            var chosen = names.Length == 0 ? running : names;
            if (chosen.FirstOrDefault(n => !running.Contains(n)) is { } missing)
                return Fail($"libvirt ({libvirtUri}) has no running domain '{missing}'; its running domains are {(running.Count == 0 ? "none" : string.Join(", ", running))}.");
            if (chosen.Count == 0) return Fail($"libvirt ({libvirtUri}) has no running domains to drive.");
            return ([.. chosen.Distinct().Select(n => connection.Domain(n, statsSeconds, setStatsPolling))], connection, null);
        }
        catch (VmUnreachableException e)
        {
            return Fail(e.Message);
        }

        (List<IVm>, LibvirtConnection?, string?) Fail(string why)
        {
            connection.Dispose();
            return ([], null, why);
        }
    }

    /// <summary>The QMP sockets the arguments name (a socket, or a directory's sockets), or null after saying why not.</summary>
    public static List<string>? Sockets(string[] args, string command)
    {
        if (args.Length == 0) return Refused(command, "no VM was given; give VMs' QMP sockets, a directory of them, or --libvirt URI.");
        var sockets = new List<string>();
        foreach (var vm in args)
        {
            if (vm.StartsWith('-') && FileStat.KindOf(vm) == FileKind.Missing)
                return Refused(command, $"'{vm}' is not an option of memvisor {command}; see memvisor {command} --help.");
            switch (FileStat.KindOf(vm))
            {
                case FileKind.Socket:
                    sockets.Add(vm);
                    break;
                case FileKind.Directory:
                    List<string> found;
                    try
                    {
                        found = Directory.EnumerateFileSystemEntries(vm).Where(f => FileStat.KindOf(f) == FileKind.Socket).Order(StringComparer.Ordinal).ToList();
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        return Refused(command, $"{vm}: the directory could not be read: {e.Message.TrimEnd('.')}.");
                    }
                    if (found.Count == 0) return Refused(command, $"{vm}: the directory holds no sockets; give VMs' QMP sockets or a directory of them.");
                    sockets.AddRange(found);
                    break;
                case FileKind.Missing:
                    return Refused(command, $"{vm}: there is no such socket or directory.");
                default:
                    return Refused(command, $"{vm}: this is not a socket; give a VM's QMP socket (QEMU's -qmp unix:PATH,server=on,wait=off) or a directory of them.");
            }
        }
        var twice = sockets.GroupBy(s => FileStat.RealPath(s) ?? Path.GetFullPath(s)).FirstOrDefault(g => g.Count() > 1);
        return twice is null ? sockets : Refused(command, $"{string.Join(" and ", twice.Distinct())}: the same socket is given twice.");
    }

    private static List<string>? Refused(string command, string message)
    {
        Console.Error.WriteLine($"memvisor: {command}: {Errors.Printable(message)}");
        return null;
    }

    private static bool Size(string option, string text, out long bytes)
    {
        if (Units.TryParseSize(text, out bytes) && bytes >= 0) return true;
        Refuse($"{option}: '{text}' is not a size of 0 or more; write MiB, or a number with KiB, MiB, GiB or TiB.");
        return false;
    }

    private static int Refuse(string message)
    {
        Console.Error.WriteLine($"memvisor: daemon: {message}");
        return ExitCodes.BadInput;
    }
}
