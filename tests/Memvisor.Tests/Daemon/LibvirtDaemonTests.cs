using System.Globalization;
using Memvisor.Daemon.Control;
using Memvisor.Daemon.Libvirt;
using Memvisor.Daemon.Vms;
using Memvisor.Policy.Squeezed;

namespace Memvisor.Tests.Daemon;

/// <summary>
/// Two real guests that libvirtd owns (scripts/libvirt-up installs and starts it; transient domains of type qemu, the
/// same kernel and initramfs as the QMP tests, a virtio memballoon with statistics every second). Destroyed, and the
/// daemons the script started stopped, when the tests end.
/// </summary>
public sealed class LibvirtGuests : IDisposable
{
    public const string Uri = "qemu:///system";
    private readonly string _dir = Path.Combine("/var/lib/libvirt/images", $"memvisor-test-{Environment.ProcessId}");
    public string Prefix { get; } = $"memvisor-test-{Environment.ProcessId}";
    public string A => Prefix + "-a";
    public string B => Prefix + "-b";

    public LibvirtGuests()
    {
        try
        {
            Start();
        }
        catch
        {
            // A fixture that fails to start is never disposed: what it started goes now.
            Dispose();
            throw;
        }
    }

    private void Start()
    {
        var (up, said) = RealGuests.Run("bash", [Path.Combine(RealGuests.Repository(), "scripts", "libvirt-up")], TimeSpan.FromMinutes(10));
        if (up != 0) throw new InvalidOperationException($"libvirt could not be brought up on this machine (scripts/libvirt-up exit {up}), so the libvirt backend was not tested:\n{said}");
        var (kernel, initramfs) = RealGuests.GuestFiles();
        // libvirt's QEMU runs as libvirt-qemu: the kernel, initramfs and console logs go where it may read and write.
        Directory.CreateDirectory(_dir);
        File.Copy(kernel, Path.Combine(_dir, "vmlinuz"), overwrite: true);
        File.Copy(initramfs, Path.Combine(_dir, "initramfs"), overwrite: true);
        foreach (var name in new[] { A, B })
        {
            string xml = Path.Combine(_dir, name + ".xml");
            File.WriteAllText(xml, $"""
                <domain type='qemu'>
                  <name>{name}</name>
                  <memory unit='MiB'>256</memory>
                  <currentMemory unit='MiB'>256</currentMemory>
                  <vcpu>1</vcpu>
                  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{_dir}/vmlinuz</kernel><initrd>{_dir}/initramfs</initrd>
                    <cmdline>console=ttyS0 quiet panic=-1 memvisor.workload=idle memvisor.balloon=on</cmdline></os>
                  <cpu mode='custom'><model>qemu64</model></cpu>
                  <on_reboot>destroy</on_reboot>
                  <devices>
                    <emulator>/usr/bin/qemu-system-x86_64</emulator>
                    <serial type='file'><source path='{_dir}/{name}.log'/></serial>
                    <memballoon model='virtio'><stats period='1'/></memballoon>
                  </devices>
                </domain>
                """);
            var (made, why) = Virsh("create", xml);
            if (made != 0) throw new InvalidOperationException($"libvirt did not start {name}: {why}");
        }
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        foreach (var name in new[] { A, B })
            while (!(File.Exists(Path.Combine(_dir, name + ".log")) && File.ReadAllText(Path.Combine(_dir, name + ".log")).Contains("MEMVISOR-READY", StringComparison.Ordinal)))
            {
                if (DateTime.UtcNow > deadline) throw new InvalidOperationException($"{name} was not ready within 90 s.");
                Thread.Sleep(200);
            }
    }

    public static (int Code, string Output) Virsh(params string[] args) =>
        RealGuests.Run("virsh", ["-c", Uri, .. args], TimeSpan.FromSeconds(60));

    /// <summary>What the domain holds now, as virsh dommemstat's actual gives it, in bytes.</summary>
    public static long Actual(string name)
    {
        var (code, output) = Virsh("dommemstat", name);
        if (code != 0) throw new InvalidOperationException(output);
        var line = output.Split('\n').First(l => l.StartsWith("actual ", StringComparison.Ordinal));
        return long.Parse(line["actual ".Length..].Trim(), CultureInfo.InvariantCulture) * 1024;
    }

    public void Dispose()
    {
        if (File.Exists("/usr/bin/virsh"))
        {
            Virsh("destroy", A);
            Virsh("destroy", B);
        }
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
        RealGuests.Run("bash", [Path.Combine(RealGuests.Repository(), "scripts", "libvirt-down")], TimeSpan.FromMinutes(1));
    }
}

/// <summary>The daemon through libvirt's C API: squeezed shrinks two libvirt guests to a budget and grows them back, as virsh dommemstat shows; the command finds the running domains itself.</summary>
[Collection(Memvisor.Tests.Support.ConsoleCapture.Collection)]
public sealed class LibvirtDaemonTests(LibvirtGuests guests) : IClassFixture<LibvirtGuests>
{
    private const long Mib = 1 << 20;

    [Fact]
    public void Squeezed_through_libvirt_shrinks_the_domains_to_a_budget_and_grows_them_back()
    {
        using var connection = LibvirtConnection.Open(LibvirtGuests.Uri);
        Assert.Contains(guests.A, connection.RunningDomains());
        var vms = new[] { connection.Domain(guests.A, 1), connection.Domain(guests.B, 1) };
        var log = new StringWriter();
        var options = new DaemonOptions { Interval = TimeSpan.FromSeconds(1), HostMemoryBytes = 384 * Mib };
        var daemon = new HostDaemon(vms, new SqueezedPolicy(new SqueezedOptions(), 1_000_000_000), options, new DecisionLog(log), () => null);
        bool Held(Func<long, bool> ok) => ok(LibvirtGuests.Actual(guests.A)) && ok(LibvirtGuests.Actual(guests.B));
        bool shrunk = false;
        for (int i = 0; i < 12 && !shrunk; i++)
        {
            daemon.Step();
            Thread.Sleep(1000);
            shrunk = Held(a => a <= 162 * Mib);
        }
        Assert.True(shrunk, $"The libvirt domains hold {LibvirtGuests.Actual(guests.A) / Mib} and {LibvirtGuests.Actual(guests.B) / Mib} MiB after 12 steps under 384 MiB:\n{log}");
        Assert.True(Held(a => a >= 150 * Mib), $"squeezed took them below their share:\n{log}");
        // Settled, the daemon reads through the C API what virsh reads.
        daemon.Step();
        Assert.InRange(daemon.Vms[0].Last!.ActualBytes, LibvirtGuests.Actual(guests.A) - Mib, LibvirtGuests.Actual(guests.A) + Mib);
        Assert.True(daemon.Vms[0].Last!.StatsSeen && daemon.Vms[0].Last!.UsedBytes > 8 * Mib, "libvirt's statistics did not arrive");

        daemon.Options = options with { HostMemoryBytes = 1024 * Mib };
        bool grown = false;
        for (int i = 0; i < 12 && !grown; i++)
        {
            daemon.Step();
            Thread.Sleep(1000);
            grown = Held(a => a >= 255 * Mib);
        }
        Assert.True(grown, $"The libvirt domains hold {LibvirtGuests.Actual(guests.A) / Mib} and {LibvirtGuests.Actual(guests.B) / Mib} MiB after 12 steps under 1 GiB:\n{log}");
    }

    [Fact]
    public void The_command_drives_every_running_libvirt_domain_and_a_missing_one_is_a_sentence()
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "memvisor.dll");
        var (code, output) = RealGuests.Run("dotnet", [dll, "daemon", "--policy", "squeezed", "--libvirt", LibvirtGuests.Uri, "--host-memory", "384",
            "--dry-run", "--steps", "2", "--interval", "1s"], TimeSpan.FromMinutes(1));
        Assert.True(code == 0, output);
        Assert.Contains($"\"name\":\"{guests.A}\"", output);
        Assert.Contains($"\"name\":\"{guests.B}\"", output);
        var (missing, said) = RealGuests.Run("dotnet", [dll, "daemon", "--policy", "squeezed", "--libvirt", LibvirtGuests.Uri, "no-such-domain"], TimeSpan.FromMinutes(1));
        Assert.Equal(1, missing);
        Assert.Contains("has no running domain 'no-such-domain'", said);
    }
}
