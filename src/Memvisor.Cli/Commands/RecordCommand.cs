using System.CommandLine;
using System.Globalization;
using System.Text;
using Memvisor.Daemon.Host;
using Memvisor.Daemon.Qmp;
using Memvisor.Daemon.Recording;
using Memvisor.Daemon.Vms;
using Memvisor.Report.Output;
using Memvisor.Sim.Scenarios;
using Spectre.Console;

namespace Memvisor.Cli.Commands;

/// <summary>
/// <c>memvisor record VM... --duration D --out DIR</c>: samples real QEMU VMs (as the daemon reads them, acting on
/// nothing) into a scenario that replays the host: one KVM domain per VM whose "demand" workload holds what the guest
/// used over time, and recording.csv with every sample (docs/daemon.md says what is and is not captured).
/// </summary>
public static class RecordCommand
{
    public static Command Build()
    {
        var vms = new Argument<string[]>("vm") { Description = "A VM's QMP socket, or a directory whose sockets are all VMs' monitors.", Arity = ArgumentArity.OneOrMore };
        var duration = new Option<string>("--duration") { Description = "How long to record (30s, 10min).", Required = true };
        var interval = new Option<string>("--interval") { Description = "Time between samples. Default: 1s.", DefaultValueFactory = _ => "1s" };
        var output = new Option<string>("--out") { Description = "The directory for scenario.yaml and recording.csv (new, empty, or Memvisor's own earlier output).", Required = true };
        var hostMemory = new Option<string?>("--host-memory") { Description = "The memory the recorded host gives its VMs, as the daemon's --host-memory (MiB, or with a unit). Default: the host's MemTotal." };
        var rate = new Option<string>("--rate") { Description = "Accesses per second each replayed guest makes to the memory it holds (not captured: QEMU does not report it). Default: 20000/s.", DefaultValueFactory = _ => "20000/s" };
        var command = new Command("record", "Sample real QEMU/KVM VMs into a scenario that replays their memory demand, so that compare can run the recorded host under every policy.")
        {
            vms, duration, interval, output, hostMemory, rate,
        };
        command.SetAction(p => Run(p.GetValue(vms)!, p.GetValue(duration)!, p.GetValue(interval)!, p.GetValue(output)!, p.GetValue(hostMemory), p.GetValue(rate)!, Interrupt.Token));
        return command;
    }

    private const long Mib = 1 << 20;

    public static int Run(string[] vmArgs, string durationText, string intervalText, string outDir, string? hostMemory, string rateText, CancellationToken stop) => Guard.Run(() =>
    {
        if (!Units.TryParseDuration(durationText, out long durationNs) || durationNs < 1_000_000_000 || durationNs > 86_400_000_000_000)
            return Refuse($"--duration: '{durationText}' is not a duration from 1s to 24h; write a number with ms, s, min or h.");
        if (!Units.TryParseDuration(intervalText, out long intervalNs) || intervalNs < 100_000_000 || intervalNs > durationNs)
            return Refuse($"--interval: '{intervalText}' is not an interval from 100ms to the duration; write a number with ms, s, min or h.");
        long? budget = null;
        if (hostMemory is not null)
        {
            if (!Units.TryParseSize(hostMemory, out long b) || b < 64 * Mib) return Refuse($"--host-memory: '{hostMemory}' is not a size of 64 MiB or more; write MiB, or a number with KiB, MiB, GiB or TiB.");
            budget = b;
        }
        if (!Units.TryParseRate(rateText, out double rate) || rate <= 0 || rate > ScenarioLimits.MaxAccessRate)
            return Refuse($"--rate: '{rateText}' is not an access rate such as 20000/s.");
        if (DaemonCommand.Sockets(vmArgs, "record") is not { } sockets) return ExitCodes.BadInput;
        using var outputDir = OutputDirectory.Prepare(outDir, "record");
        var vms = sockets.Select(s => (IVm)new QemuVm(s, TimeSpan.FromSeconds(5), 1)).ToList();
        try
        {
            long host = budget ?? MemInfo.Read().TotalBytes;
            var recorder = new Memvisor.Daemon.Recording.Recorder(vms, TimeSpan.FromTicks(intervalNs / 100));
            var duration = TimeSpan.FromTicks(durationNs / 100);
            Recording recording;
            if (!AnsiConsole.Profile.Capabilities.Interactive)
                recording = recorder.Record(duration, host, budget is not null, stop);
            else
            {
                recording = null!;
                AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask($"recording {vms.Count} VM(s) for {durationText}", maxValue: 1.0);
                        recording = recorder.Record(duration, host, budget is not null, stop, done => task.Value = done);
                    });
            }
            stop.ThrowIfCancellationRequested();
            Write(outputDir, recording, rate, null, null);
            Console.Out.WriteLine($"Recorded {recording.Vms.Count} VM(s) for {recording.DurationS:0.#} s into {outputDir.Target}: scenario.yaml, recording.csv");
            return ExitCodes.Ok;
        }
        catch (Exception e) when (e is VmUnreachableException or InvalidOperationException)
        {
            Console.Error.WriteLine($"memvisor: record: {Errors.Printable(e.Message.TrimEnd('.'))}. Nothing was written.");
            return ExitCodes.Failure;
        }
        finally
        {
            foreach (var vm in vms) vm.Dispose();
        }
    });

    /// <summary>Writes scenario.yaml, recording.csv and, from the daemon, decisions.csv into the output, checking first that the scenario parses.</summary>
    public static void Write(OutputDirectory output, Recording recording, double rate, DaemonPolicy? policy, string? decisions, string source = "memvisor record")
    {
        string name = Path.GetFileName(output.Target), file = Path.Combine(output.Target, "scenario.yaml");
        string yaml;
        try
        {
            var (hostBytes, why) = HostBytes(recording, rate, name, policy, file);
            yaml = ScenarioText(recording, rate, name, policy, hostBytes, why, source);
            // What is written must be a scenario Memvisor runs, within the loader's size limit.
            ScenarioLoader.Parse(yaml, file);
            if (Encoding.UTF8.GetByteCount(yaml) > YamlLimits.MaxBytes)
                throw new InvalidOperationException($"the recorded scenario would be larger than the {YamlLimits.MaxBytes >> 20} MiB a scenario may be; record fewer VMs, for less time or with a longer --interval.");
        }
        catch (ScenarioException e)
        {
            throw new InvalidOperationException($"the recording could not be made into a scenario Memvisor runs ({e.Errors[0]}); this is a bug in Memvisor, please report it.");
        }
        output.WriteFile("scenario.yaml", s => s.Write(Encoding.UTF8.GetBytes(yaml)));
        output.WriteFile("recording.csv", s => s.Write(Encoding.UTF8.GetBytes(RecordingCsv.Write(recording))));
        if (decisions is not null) output.WriteFile("decisions.csv", s => s.Write(Encoding.UTF8.GetBytes(decisions)));
        output.Commit();
    }

    /// <summary>The daemon's policy for a recording it made: its name, interval, and each VM's floor at the start (squeezed's dynamic-min).</summary>
    public sealed record DaemonPolicy(string Name, double IntervalS, IReadOnlyDictionary<string, long> FloorBytes);

    // The host kernel: small, since the daemon's budget (or MemTotal) is what the VMs share and the host's own use is not modeled apart.
    private const long Dom0 = 16 * Mib;

    /// <summary>
    /// The replay's host memory: the recorded memory for the VMs, plus dom0, the hypervisor's own (40 bytes a frame)
    /// and each domain's paging reserve, so that what the host can give its domains is what the recorded host gave its
    /// VMs; more, with the reason, where the VMs held more than that at the start (a static domain is built whole).
    /// </summary>
    private static (long Bytes, string Why) HostBytes(Recording r, double rate, string name, DaemonPolicy? policy, string file)
    {
        // A trial host large enough for every VM at its largest, whatever the recorded host was.
        long trial = r.Vms.Sum(v => Math.Max(v.MaxBytes, v.MemoryBytes)) * 2 + (1L << 30);
        var probe = ScenarioLoader.Parse(ScenarioText(r, rate, name, policy, trial, ""), file);
        var personality = probe.Host.Personality;
        long reserves = 0, memory = 0;
        foreach (var (d, instance) in probe.Instances())
        {
            var config = ScenarioLoader.ToConfig(d, instance, personality);
            reserves += Memvisor.Hypervisor.Host.BuildPagesFor(config, personality) - config.MemoryPages;
            memory += config.MemoryPages;
        }
        long forVms = Math.Max(r.HostBytes, memory * 4096);
        long host = forVms + Dom0 + reserves * 4096;
        host += (host / 4096 * Memvisor.Hypervisor.Host.XenBytesPerFrame + Mib - 1) / Mib * Mib;
        host = (host + Mib - 1) / Mib * Mib;
        string why = forVms > r.HostBytes
            ? $"The VMs held {memory * 4096 / Mib} MiB at the start, more than the {r.HostBytes / Mib} MiB recorded for them: the host is sized to build them, so its pressure starts lower than the real host's."
            : $"The {(r.HostIsBudget ? "budget given to the VMs" : "host's MemTotal")} ({r.HostBytes / Mib} MiB), dom0's 16 MiB, the hypervisor's own and the domains' paging reserves.";
        return (host, why);
    }

    /// <summary>The scenario: a KVM host with the recorded memory, one domain a VM holding what its guest used over time.</summary>
    public static string ScenarioText(Recording r, double rate, string name, DaemonPolicy? policy, long hostBytes, string hostWhy, string source = "memvisor record")
    {
        var c = CultureInfo.InvariantCulture;
        var s = new StringBuilder();
        s.Append(c, $"# Recorded by {source} from {r.Vms.Count} QEMU VM(s) at {r.Started:yyyy-MM-ddTHH:mm:ssZ}: {r.DurationS:0.#} s, a sample every {r.IntervalS:0.###} s.\n");
        s.Append("# Each domain's demand workload holds what its guest used (its managed memory less what was available) above the\n");
        s.Append("# least it used, which the modeled guest kernel stands for; recording.csv has every sample. docs/daemon.md says what\n");
        s.Append("# is and is not captured. Replay it under every policy: memvisor compare scenario.yaml --policies static,mom,squeezed\n");
        s.Append(c, $"name: {Slug(name, "recorded")}\nseed: 1\nduration: {Math.Max(1, Math.Ceiling(r.DurationS)):0}s\n");
        s.Append(c, $"host:\n  hypervisor: kvm\n  # {hostWhy}\n");
        s.Append(c, $"  memory: {hostBytes / Mib}MiB\n  dom0: {{ memory: {Dom0 / Mib}MiB }}\ndomains:\n");
        var domains = DomainNames(r.Vms.Select(v => v.Name).ToList());
        for (int v = 0; v < r.Vms.Count; v++)
        {
            var vm = r.Vms[v];
            string domain = domains[v];
            var used = Thin(vm.Samples.Where(x => x.UsedBytes is not null).ToList(), MaxSamples(r));
            long baseline = used.Count == 0 ? 0 : vm.Samples.Where(x => x.UsedBytes is not null).Min(x => x.UsedBytes!.Value);
            long memory = Math.Max(4 * Mib, vm.MemoryBytes / Mib * Mib), max = Math.Max(memory, vm.MaxBytes / Mib * Mib);
            s.Append(c, $"  - name: {domain}\n    memory: {memory / Mib}MiB\n    maxmem: {max / Mib}MiB\n");
            // The daemon counts a VM as holding its RAM less its balloon, as a preallocated (-mem-prealloc) guest would.
            s.Append("    allocation: static   # held as the daemon counts it: all its RAM but the balloon\n");
            if (policy is not null && policy.FloorBytes.TryGetValue(vm.Name, out long floor) && floor > 0)
                s.Append(c, $"    dynamic_min: {Math.Min(memory, (floor + Mib - 1) / Mib * Mib) / Mib}MiB   # the daemon's floor for it at the start\n");
            // The VM's own name (QEMU's -name, anyone's text) never goes into the YAML: only its slug does.
            s.Append(c, $"    # It used {Math.Round(baseline / (double)Mib, 1)} MiB at the least{(used.Count == 0 ? " (it sent no statistics, so no demand was recorded)" : "")}.\n");
            s.Append(c, $"    workload:\n      kind: demand\n      rate: {rate:0.###}/s\n      samples:\n");
            if (used.Count == 0) s.Append("        - { at: 0s, used: 0MiB }\n");
            double last = -1;
            foreach (var x in used)
            {
                if (x.TimeS <= last) continue;
                last = x.TimeS;
                s.Append(c, $"        - {{ at: {x.TimeS * 1000:0}ms, used: {Math.Max(0, x.UsedBytes!.Value - baseline) / 1024}KiB }}\n");
            }
        }
        if (policy is not null)
            s.Append(c, $"# The policy the daemon ran, at its interval.\npolicy: {{ name: {policy.Name}, interval: {Math.Max(1, (long)Math.Round(policy.IntervalS * 1000))}ms }}\n");
        return s.ToString();
    }

    /// <summary>The scenario's domain name for each recorded VM, in order: its name as letters, digits, '-', '_' and '.', made unique with -2, -3.</summary>
    public static IReadOnlyList<string> DomainNames(IReadOnlyList<string> vmNames)
    {
        var taken = new HashSet<string>();
        var names = new List<string>();
        foreach (var vm in vmNames)
        {
            string domain = Slug(vm, "vm");
            for (int i = 2; !taken.Add(domain); i++) domain = $"{Slug(vm, "vm")}-{i}";
            names.Add(domain);
        }
        return names;
    }

    // Each sample line takes about 40 bytes; the scenario stays well inside the loader's limit.
    private static int MaxSamples(Recording r) => Math.Max(16, (int)(YamlLimits.MaxBytes * 3 / 4 / 45 / Math.Max(1, r.Vms.Count)));

    /// <summary>The samples to write: none whose value equals both neighbours' (a flat run keeps its ends), then every k-th where still too many (the last always kept).</summary>
    private static List<RecordedSample> Thin(List<RecordedSample> samples, int max)
    {
        var kept = samples.Where((x, i) => i == 0 || i == samples.Count - 1 || x.UsedBytes != samples[i - 1].UsedBytes || x.UsedBytes != samples[i + 1].UsedBytes).ToList();
        if (kept.Count <= max) return kept;
        int k = (kept.Count + max - 1) / max;
        return [.. kept.Where((_, i) => i % k == 0 || i == kept.Count - 1)];
    }

    // A scenario or domain name: letters, digits, '-', '_' and '.'.
    private static string Slug(string name, string fallback)
    {
        var chars = name.Select(ch => char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_' or '.' ? ch : '-').ToArray();
        string slug = new string(chars).Trim('-', '.');
        return slug.Length == 0 ? fallback : slug.Length > 64 ? slug[..64] : slug;
    }

    private static int Refuse(string message)
    {
        Console.Error.WriteLine($"memvisor: record: {message}");
        return ExitCodes.BadInput;
    }
}
