using System.Diagnostics;
using System.Text.Json.Nodes;
using Memvisor.Daemon.Qmp;

namespace Memvisor.Tests.Daemon;

/// <summary>
/// Small real QEMU guests for the daemon's tests: Debian's cloud kernel and a busybox initramfs (tools/guest-files,
/// over tools/guest-lib.sh; the virtio balloon driver loaded unless a guest is to ignore its balloon), software
/// emulation, 256 MiB each, a virtio balloon that deflates on the guest's OOM, statistics, and a QMP socket. Every
/// QEMU is killed when the fixture is disposed, or when the test process exits without disposing it.
/// </summary>
public sealed class RealGuests : IDisposable
{
    public const long GuestBytes = 256L << 20;
    private readonly List<Process> _qemus = [];
    private readonly string _kernel, _initramfs;

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("memvisor-guests-").FullName;

    public RealGuests()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
        (_kernel, _initramfs) = GuestFiles();
    }

    /// <summary>Boots a guest and waits until its init is ready; its QMP socket's path.</summary>
    public string Boot(string name, string workload = "idle", bool balloonDriver = true)
    {
        string socket = Path.Combine(Directory, name + ".qmp"), log = Path.Combine(Directory, name + ".log");
        var info = new ProcessStartInfo("/usr/bin/qemu-system-x86_64")
        {
            RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true,
        };
        foreach (var a in (string[])["-name", name, "-machine", "pc,accel=tcg", "-cpu", "max", "-smp", "1", "-m", $"{GuestBytes >> 20}",
                     "-kernel", _kernel, "-initrd", _initramfs,
                     "-append", $"console=ttyS0 quiet panic=-1 memvisor.workload={workload} memvisor.balloon={(balloonDriver ? "on" : "off")}",
                     "-device", "virtio-balloon-pci,id=balloon0,deflate-on-oom=on", "-display", "none", "-serial", $"file:{log}",
                     "-qmp", $"unix:{socket},server=on,wait=off", "-qmp", $"unix:{CheckSocket(socket)},server=on,wait=off", "-no-reboot", "-nodefaults"])
            info.ArgumentList.Add(a);
        var qemu = Process.Start(info)!;
        _qemus.Add(qemu);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (!(File.Exists(log) && File.ReadAllText(log).Contains("MEMVISOR-READY", StringComparison.Ordinal)))
        {
            if (qemu.HasExited) throw new InvalidOperationException($"QEMU for {name} exited ({qemu.ExitCode}): {qemu.StandardError.ReadToEnd()}");
            if (DateTime.UtcNow > deadline) throw new InvalidOperationException($"The guest {name} was not ready within 90 s; its console:\n{(File.Exists(log) ? File.ReadAllText(log) : "")}");
            Thread.Sleep(200);
        }
        return socket;
    }

    // QEMU's monitor serves one client at a time, so the tests look at a guest through a second monitor of its own,
    // in a subdirectory where a daemon given the guests' directory does not find it.
    private static string CheckSocket(string socket)
    {
        string dir = Path.Combine(Path.GetDirectoryName(socket)!, "check");
        System.IO.Directory.CreateDirectory(dir);
        return Path.Combine(dir, Path.GetFileName(socket));
    }

    /// <summary>Sets a guest's balloon and waits (up to 30 s) until it holds that much, within 1 MiB; what it holds then.</summary>
    public static long Settle(string socket, long bytes)
    {
        using var qmp = QmpClient.Connect(CheckSocket(socket), TimeSpan.FromSeconds(10));
        var balloon = new QemuBalloon(qmp);
        balloon.SetTarget(bytes);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        long actual;
        while (Math.Abs((actual = balloon.ActualBytes()) - bytes) > 1 << 20 && DateTime.UtcNow < deadline) Thread.Sleep(200);
        return actual;
    }

    /// <summary>What the guest holds now (query-balloon's actual).</summary>
    public static long Actual(string socket)
    {
        using var qmp = QmpClient.Connect(CheckSocket(socket), TimeSpan.FromSeconds(10));
        return new QemuBalloon(qmp).ActualBytes();
    }

    public static JsonNode Query(string socket, string command)
    {
        using var qmp = QmpClient.Connect(CheckSocket(socket), TimeSpan.FromSeconds(10));
        return qmp.Execute(command);
    }

    /// <summary>The kernel and initramfs tools/guest-files makes (its standard output, a path a line; what it says on standard error is only shown on failure).</summary>
    public static (string Kernel, string Initramfs) GuestFiles()
    {
        var (code, stdout, stderr) = RunApart("bash", [Path.Combine(Repository(), "tools", "guest-files")], TimeSpan.FromMinutes(10));
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (code != 0 || lines.Length < 2 || !File.Exists(lines[^2]) || !File.Exists(lines[^1]))
            throw new InvalidOperationException($"The guests' kernel and initramfs could not be made (tools/guest-files exit {code}); the daemon's real-guest tests need qemu-system-x86, busybox-static, cpio and Debian's kernel package:\n{stdout}{stderr}");
        return (lines[^2], lines[^1]);
    }

    public static string Repository()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "tools", "guest-files"))) return d.FullName;
        throw new InvalidOperationException("The tests run outside the repository: tools/guest-files was not found above " + AppContext.BaseDirectory);
    }

    public static (int Code, string Output) Run(string exe, string[] args, TimeSpan timeout)
    {
        var (code, stdout, stderr) = RunApart(exe, args, timeout);
        return (code, stdout + stderr);
    }

    public static (int Code, string Stdout, string Stderr) RunApart(string exe, string[] args, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(exe) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            return (-1, "", $"{exe} did not finish within {timeout}.");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    public void Dispose()
    {
        KillAll();
        System.IO.Directory.Delete(Directory, recursive: true);
    }

    private void KillAll()
    {
        foreach (var q in _qemus.ToList())
        {
            try
            {
                if (!q.HasExited) q.Kill(entireProcessTree: true);
                q.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
            }
        }
    }
}
