namespace Memvisor.Daemon.Qmp;

/// <summary>A QEMU monitor that could not be reached, answered with an error, or said something that is not QMP; the message says which, with QEMU's class and words where it gave them.</summary>
public sealed class QmpException(string message) : Exception(message);
