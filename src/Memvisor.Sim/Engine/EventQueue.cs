namespace Memvisor.Sim.Engine;

/// <summary>What an event does when it fires.</summary>
public enum EventKind : byte
{
    /// <summary>Guests run a step and the idle scrubber works.</summary>
    Tick,
    /// <summary>A row of the time series is recorded.</summary>
    Sample,
    /// <summary>A toolstack action from the scenario's timeline (Index names it).</summary>
    Action,
    /// <summary>The policy daemon decides.</summary>
    Policy,
}

public readonly record struct SimEvent(EventKind Kind, int Index);

/// <summary>
/// The discrete-event clock: events fire in time order, and events at the same time in the order they were
/// scheduled, so a run is the same every time for the same scenario and seed.
/// </summary>
public sealed class EventQueue
{
    private readonly PriorityQueue<SimEvent, (long At, long Seq)> _queue = new();
    private long _seq;

    public long NowNs { get; private set; }
    public long Processed { get; private set; }
    public int Count => _queue.Count;

    public void Schedule(long atNs, SimEvent e)
    {
        if (atNs < NowNs) throw new ArgumentOutOfRangeException(nameof(atNs), atNs, "An event cannot be scheduled in the past.");
        _queue.Enqueue(e, (atNs, _seq++));
    }

    /// <summary>Takes the next event at or before <paramref name="limitNs"/> and advances the clock to it.</summary>
    public bool TryNext(long limitNs, out SimEvent e)
    {
        if (_queue.TryPeek(out e, out var key) && key.At <= limitNs)
        {
            _queue.Dequeue();
            NowNs = key.At;
            Processed++;
            return true;
        }
        return false;
    }
}
