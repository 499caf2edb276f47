namespace Memvisor.Guest.Workloads.Trace;

/// <summary>A trace file that is not what its format says; the message names the file and the line or offset.</summary>
public sealed class TraceFormatException(string message) : Exception(message);
