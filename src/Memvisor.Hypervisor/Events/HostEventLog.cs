using Memvisor.Machine.Lanes;

namespace Memvisor.Hypervisor.Events;

/// <summary>The host's event log: every event is counted, the first <see cref="Capacity"/> are kept for the summary.</summary>
public sealed class HostEventLog(Func<long> now, int capacity = 200)
{
    private readonly List<HostEvent> _kept = [];

    public int Capacity { get; } = capacity;
    public long Count { get; private set; }
    public IReadOnlyList<HostEvent> Kept => _kept;

    public void Add(string mechanism, string domain, string message)
    {
        Turn.Require("the host event log");
        Count++;
        if (_kept.Count < Capacity) _kept.Add(new HostEvent(now(), mechanism, domain, message));
    }
}
