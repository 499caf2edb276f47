namespace Memvisor.Daemon.Vms;

/// <summary>One VM as a backend (QEMU's monitor, libvirt) reaches it: read its memory, ask its balloon and virtio-mem device for a size. Failures are <see cref="VmUnreachableException"/>.</summary>
public interface IVm : IDisposable
{
    /// <summary>The name the daemon's log, metrics and policy use for the VM.</summary>
    string Name { get; }
    /// <summary>Where it is reached, for messages (a socket path, a libvirt URI and domain).</summary>
    string Address { get; }
    VmReading Read();
    void SetBalloonTarget(long bytes);
    void SetVirtioMemRequested(long bytes);
}

/// <summary>A VM that did not answer, or answered with an error; the message says which VM and why.</summary>
public sealed class VmUnreachableException(string message) : Exception(message);
