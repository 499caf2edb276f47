namespace Memvisor.Guest.Kernel;

/// <summary>The OOM killer ended a process: when, which, and the pages it held (rss + swap + page tables).</summary>
public sealed record OomKill(long TimeNs, int Pid, string Process, long Pages);
