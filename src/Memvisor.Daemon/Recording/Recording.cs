namespace Memvisor.Daemon.Recording;

/// <summary>One sample of a VM: when (seconds from the start), what it held, and what its guest reported (null before its statistics arrive).</summary>
public sealed record RecordedSample(double TimeS, long ActualBytes, long? UsedBytes, long? AvailableBytes, long? FreeBytes, long MajorFaults, long SwapInBytes, long SwapOutBytes, long? RssBytes);

/// <summary>A VM over a recording: its name, what it held at the start, the most it can hold, and its samples.</summary>
public sealed record RecordedVm(string Name, long MemoryBytes, long MaxBytes, IReadOnlyList<RecordedSample> Samples);

/// <summary>What <c>memvisor record</c> sampled: when it started, how often, the host's memory (MemTotal, or the budget given), and every VM.</summary>
public sealed record Recording(DateTimeOffset Started, double IntervalS, double DurationS, long HostBytes, bool HostIsBudget, IReadOnlyList<RecordedVm> Vms);
