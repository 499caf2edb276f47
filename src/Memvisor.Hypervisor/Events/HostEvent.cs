namespace Memvisor.Hypervisor.Events;

/// <summary>Something a mechanism reports that a user should see (paging stopped, a swap read failed), as a sentence.</summary>
public sealed record HostEvent(long TimeNs, string Mechanism, string Domain, string Message);
