using System.Diagnostics;
using Memvisor.Daemon.Qmp;

namespace Memvisor.Tests.Daemon;

/// <summary>
/// The QMP client against a real QEMU (software emulation, paused before it runs any guest code: QMP answers all the
/// same): the greeting and capabilities, query-balloon, the balloon target, the guest-statistics property, QEMU's
/// errors as sentences, and a monitor that is not there. The test installs qemu-system-x86 with apt-get when it is
/// missing (root), and fails saying so where it cannot.
/// </summary>
// In the collection of the Slurm test, whose set-up also runs apt-get: two at once would meet dpkg's lock.
[Collection(Memvisor.Tests.Support.ConsoleCapture.Collection)]
public sealed class QmpClientTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-qmp-").FullName;
    private Process? _qemu;

    public void Dispose()
    {
        if (_qemu is { HasExited: false }) _qemu.Kill(entireProcessTree: true);
        _qemu?.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static string Qemu()
    {
        const string exe = "/usr/bin/qemu-system-x86_64";
        if (File.Exists(exe)) return exe;
        var install = Process.Start(new ProcessStartInfo("bash", ["-c", "apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 qemu-system-x86 >/dev/null"])
            { RedirectStandardError = true })!;
        string err = install.StandardError.ReadToEnd();
        install.WaitForExit();
        Assert.True(File.Exists(exe), $"qemu-system-x86_64 is not installed and apt-get could not install it (exit {install.ExitCode}): {err}");
        return exe;
    }

    // A q35 machine of 256 MiB with a virtio balloon, paused (-S), its monitor on a Unix socket; with a virtio-mem device of up to 512 MiB when asked.
    private string StartQemu(bool virtioMem = false)
    {
        string socket = Path.Combine(_dir, "qmp.sock");
        string[] memory = virtioMem
            ? ["-m", "256M,maxmem=1G,slots=1", "-object", "memory-backend-ram,id=vmem0,size=512M", "-device", "virtio-mem-pci,id=vm0,memdev=vmem0,block-size=2M,requested-size=0"]
            : ["-m", "256"];
        var info = new ProcessStartInfo(Qemu(), ["-M", "q35", "-nodefaults", "-display", "none", "-S", .. memory, "-device", "virtio-balloon-pci,id=balloon0",
            "-qmp", $"unix:{socket},server=on,wait=off"]) { RedirectStandardError = true, RedirectStandardOutput = true };
        _qemu = Process.Start(info)!;
        for (int i = 0; i < 100 && !File.Exists(socket) && !_qemu.HasExited; i++) Thread.Sleep(100);
        Assert.True(File.Exists(socket), $"QEMU did not open its monitor: {(_qemu.HasExited ? _qemu.StandardError.ReadToEnd() : "still starting after 10 s")}");
        return socket;
    }

    [Fact]
    public void A_paused_QEMU_answers_its_balloon_through_QMP_and_its_errors_come_back_as_sentences()
    {
        string socket = StartQemu();
        using var qmp = QmpClient.Connect(socket, TimeSpan.FromSeconds(10));
        Assert.Matches(@"^\d+\.\d+\.\d+$", qmp.Version);
        Assert.Equal("prelaunch", qmp.Execute("query-status")["status"]!.GetValue<string>());
        var balloon = new QemuBalloon(qmp);
        Assert.Equal(256L << 20, balloon.ActualBytes());
        // The target is taken; a guest that runs no balloon driver (this one runs nothing) holds what it has.
        balloon.SetTarget(128L << 20);
        Assert.Equal(256L << 20, balloon.ActualBytes());
        balloon.PollStats(2);
        var (stats, _) = balloon.Stats();
        Assert.True(stats.Count == 0 || stats.Values.All(v => v == -1), string.Join(", ", stats));
        var refused = Assert.Throws<QmpException>(() => qmp.Execute("no-such-command"));
        Assert.Contains("refused no-such-command: CommandNotFound", refused.Message);
    }

    [Fact]
    public void A_VMs_virtio_mem_device_is_read_and_its_requested_size_set_through_QMP()
    {
        string socket = StartQemu(virtioMem: true);
        using var vm = new Memvisor.Daemon.Qmp.QemuVm(socket, TimeSpan.FromSeconds(10), 1);
        var before = vm.Read();
        Assert.Equal(256L << 20, before.BaseBytes);
        var device = Assert.IsType<Memvisor.Daemon.Vms.VirtioMemReading>(before.VirtioMem);
        Assert.Equal(("vm0", 0L, 0L, 512L << 20, 2L << 20), (device.Id, device.SizeBytes, device.RequestedBytes, device.MaxBytes, device.BlockBytes));
        Assert.Equal((256L + 512) << 20, before.MaxBytes);
        vm.SetVirtioMemRequested(128L << 20);
        Assert.Equal(128L << 20, vm.Read().VirtioMem!.RequestedBytes);
    }

    [Fact]
    public void A_monitor_that_is_not_there_is_a_sentence()
    {
        var e = Assert.Throws<QmpException>(() => QmpClient.Connect(Path.Combine(_dir, "none.sock"), TimeSpan.FromSeconds(2)));
        Assert.Contains("could not be reached", e.Message);
    }
}
