namespace Memvisor.Machine.Lanes;

/// <summary>
/// A counting signal that sleeps at once instead of spinning: a lane waits milliseconds for its next step, and on
/// two cores a waiter that spins (as SemaphoreSlim does, yielding dozens of times a wait) takes the core from the
/// lane it waits for. Measured on the default scenario: 654k sched_yield calls in 20 s and 40% more wall time.
/// </summary>
internal sealed class Signal
{
    private readonly object _gate = new();
    private int _count;

    public void Release()
    {
        lock (_gate)
        {
            _count++;
            Monitor.Pulse(_gate);
        }
    }

    public void Wait()
    {
        lock (_gate)
        {
            while (_count == 0) Monitor.Wait(_gate);
            _count--;
        }
    }
}
