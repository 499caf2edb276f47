using System.Runtime.ExceptionServices;

namespace Memvisor.Machine.Lanes;

/// <summary>
/// Steps the guests of one tick on up to <see cref="Threads"/> cores with the answer of one core (see
/// <see cref="Turn"/>). In the parallel phase <see cref="Threads"/> lanes take the steps one after another, each
/// running its step until the step finishes or takes its turn; a step that takes its turn keeps its lane asleep and
/// another lane goes on. When every step has finished or is waiting, the waiting ones run to the end one after
/// another in index order. Lanes are threads kept for the whole run, and a lane runs step after step without a
/// hand-off; with one thread the steps run on the caller's thread until one takes its turn (<see cref="RunInline"/>).
/// What lanes cost against a plain loop is in docs/benchmarks.md.
/// </summary>
public sealed class TickLanes : IDisposable
{
    private readonly object _gate = new();
    private readonly List<Lane> _all = [];
    private readonly Stack<Lane> _idle = new();
    private readonly Signal _tickDone = new();
    private readonly Signal _othersStopped = new();
    private Lane? _inline;
    private int _turnAt;
    private Action<int>? _step;
    private int _count, _next, _workers;
    private Lane?[] _waiting = [];
    private Exception?[] _errors = [];
    private bool _disposed, _failed;

    public TickLanes(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "A run steps its guests on at least one thread.");
        Threads = threads;
    }

    /// <summary>How many steps may run at once in the parallel phase.</summary>
    public int Threads { get; }
    /// <summary>Steps run so far, and of them those that needed a turn (the rest ran wholly in the parallel phase).</summary>
    public long Steps { get; private set; }
    public long StepsWithTurn { get; private set; }


    /// <summary>Whether a step of this tick has failed: the steps waiting for their turns are stopped instead.</summary>
    internal bool Failed => Volatile.Read(ref _failed);

    /// <summary>
    /// Runs <paramref name="step"/>(0) .. <paramref name="step"/>(<paramref name="count"/> - 1), the parts before their
    /// first turn in parallel, the rest in index order; rethrows the first step's exception, by index, once all are done.
    /// </summary>
    public void Run(int count, Action<int> step)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Steps += count;
        if (count <= 1)
        {
            // One step alone has nobody to wait for: it runs here, and its turn is the whole step.
            if (count == 1) step(0);
            return;
        }
        if (_waiting.Length < count)
        {
            _waiting = new Lane?[count];
            _errors = new Exception?[count];
        }
        Array.Clear(_waiting, 0, count);
        Array.Clear(_errors, 0, count);
        // Every step may keep a lane while it waits, and Threads more go on: the lanes are made here, before the
        // tick, where a thread the system refuses stops the run cleanly instead of in the middle of a tick.
        while (_idle.Count < count + Threads - 1) AddLane();
        _failed = false;
        _step = step;
        _count = count;
        _next = 0;
        _turnAt = -1;
        if (Threads == 1) RunInline(count, step);
        else
        {
            lock (_gate)
            {
                _workers = Math.Min(Threads, count);
                for (int i = 0; i < _workers; i++) WakeIdle();
            }
            // The last lane out of the parallel phase gives the first waiting step its turn, each step hands the turn
            // on to the next when it ends, and the last wakes this thread: one wake-up a turn, since waking a sleeping
            // thread on another core costs tens of microseconds on this kind of machine.
            _tickDone.Wait();
        }
        _step = null;
        for (int i = 0; i < count; i++)
            if (_errors[i] is { } e and not TickAbortedException) ExceptionDispatchInfo.Throw(e);
    }

    // One thread: the steps run here, in order, with no hand-off at all until one takes its turn. Then (inside that
    // turn, RunOthersInline) the steps after it run on lanes to their own stops, the step goes on in its turn, and the
    // waiting steps' turns follow as with more threads: the same order, so the same answer, and a tick in which no
    // step needs a turn costs what a loop does, however busy the machine (a wake-up per tick cost the test suite 3x).
    private void RunInline(int count, Action<int> step)
    {
        _inline ??= new Lane(this);
        for (int i = 0; i < count; i++)
        {
            _inline.BeginInline(i);
            Turn.Enter(_inline);
            RunStep(i);
            Turn.Enter(null);
            if (!_inline.EndInline()) continue;
            PassTurn();
            _tickDone.Wait();
            return;
        }
    }

    /// <summary>On the coordinator's thread, inside step <paramref name="index"/>'s first turn: the steps after it run to their stops, one at a time.</summary>
    internal void RunOthersInline(int index)
    {
        _turnAt = index;
        StepsWithTurn++;
        if (index + 1 >= _count) return;
        _next = index + 1;
        lock (_gate)
        {
            _workers = 1;
            WakeIdle();
        }
        _othersStopped.Wait();
    }

    // Steps are taken from both ends in turn (0, n-1, 1, n-2, ...), so that lanes running at once step domains made
    // far apart, whose objects do not share cache lines: the order taken changes no result, since steps do not
    // meet outside their turns, which follow the index order. With one thread they are taken in order.
    internal bool TryTakeStep(out int index)
    {
        int ticket = Interlocked.Increment(ref _next) - 1;
        if (ticket < _count)
        {
            index = Threads == 1 ? ticket : (ticket & 1) == 0 ? ticket >> 1 : _count - 1 - (ticket >> 1);
            return true;
        }
        index = -1;
        return false;
    }

    internal void RunStep(int index)
    {
        try
        {
            _step!(index);
        }
        catch (Exception e)
        {
            _errors[index] = e;
            Volatile.Write(ref _failed, true);
        }
    }

    /// <summary>A lane's step <paramref name="index"/> waits for its turn: another lane goes on if steps are left.</summary>
    internal void Stopped(Lane lane, int index)
    {
        lock (_gate)
        {
            _waiting[index] = lane;
            if (Volatile.Read(ref _next) < _count) WakeIdle();
            else LeaveParallel();
        }
    }

    /// <summary>A lane found no step left: it parks, and the last to do so ends the parallel phase and starts the turns.</summary>
    internal void LeftParallel(Lane lane)
    {
        lock (_gate)
        {
            _idle.Push(lane);
            LeaveParallel();
        }
    }

    /// <summary>A lane's step ended in its turn: the lane parks, and the next waiting step gets the turn (or the coordinator, after the last).</summary>
    internal void TurnFinished(Lane lane)
    {
        lock (_gate) _idle.Push(lane);
        PassTurn();
    }

    /// <summary>A step's turn has begun: with cores to spare, the lane of the next waiting step is woken to wait spinning.</summary>
    internal void TurnStarted()
    {
        if (Threads < 2) return;
        for (int i = _turnAt + 1; i < _count; i++)
            if (_waiting[i] is { } next)
            {
                next.Prewake();
                return;
            }
    }

    private void PassTurn()
    {
        if (NextTurn() is { } next) next.GrantTurn();
        else _tickDone.Release();
    }

    // The lane of the next step, in index order, that waits for its turn; null after the last. Called by whoever holds
    // the turn (the coordinator before the first), so one at a time.
    private Lane? NextTurn()
    {
        while (++_turnAt < _count)
            if (_waiting[_turnAt] is { } lane)
            {
                StepsWithTurn++;
                return lane;
            }
        return null;
    }

    private void LeaveParallel()
    {
        if (--_workers > 0) return;
        // With one thread the coordinator's step holds the first turn and goes on; else the first waiting step's turn begins.
        if (Threads == 1) _othersStopped.Release();
        else PassTurn();
    }

    // There are always enough (see Run).
    private void WakeIdle() => _idle.Pop().Wake();

    private void AddLane()
    {
        Lane lane;
        try
        {
            lane = new Lane(this, _all.Count);
        }
        catch (Exception e) when (e is OutOfMemoryException or ThreadStartException)
        {
            throw new LanesUnavailableException(_all.Count, e);
        }
        _all.Add(lane);
        _idle.Push(lane);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var lane in _all) lane.Stop();
    }
}
