namespace Memvisor.Machine.Lanes;

/// <summary>
/// One worker thread of <see cref="TickLanes"/>. In a tick's parallel phase it takes the next guest step nobody has
/// taken and runs it, and the next, until none is left; a step that takes its turn (<see cref="Turn.Take"/>) keeps the
/// lane, which sends another lane on with the remaining steps and sleeps until the step's turn comes.
/// </summary>
internal sealed class Lane
{
    // A guest step's deepest path (a fault that pages in, evicts and writes back) uses a few tens of KiB.
    private const int StackBytes = 1 << 20;
    // Null for the coordinator's own lane (one thread: see TickLanes.RunInline).
    private readonly Thread? _thread;
    private readonly Signal _go = new();
    private readonly Signal _turn = new();
    private bool _exit;
    private int _index;
    private bool _granted, _prewoken;
    // How long a pre-woken lane spins for its turn before it sleeps.
    private const int SpinMilliseconds = 5;

    internal Lane(TickLanes owner, int number)
    {
        Owner = owner;
        _thread = new Thread(Loop, StackBytes) { IsBackground = true, Name = $"memvisor lane {number}" };
        _thread.Start();
    }

    /// <summary>The coordinator's own lane, used with one thread: its steps run on the coordinator's thread.</summary>
    internal Lane(TickLanes owner) => Owner = owner;

    internal TickLanes Owner { get; }
    /// <summary>Whether the lane's current step is in its turn (set and read on the lane's own thread only).</summary>
    internal bool HasTurn { get; private set; }

    /// <summary>Sends the parked lane to take steps.</summary>
    internal void Wake() => _go.Release();

    /// <summary>Gives the step waiting on this lane its turn; when the step ends the lane passes the turn on (<see cref="TickLanes.TurnFinished"/>).</summary>
    internal void GrantTurn()
    {
        Volatile.Write(ref _granted, true);
        _turn.Release();
    }

    /// <summary>
    /// Wakes the lane whose turn comes next while the turn before it runs, so that it waits spinning on a core that
    /// would be idle anyway: the turn then passes without a wake-up, which costs tens of microseconds here.
    /// </summary>
    internal void Prewake()
    {
        Volatile.Write(ref _prewoken, true);
        _turn.Release();
    }

    /// <summary>The coordinator's lane starts step <paramref name="index"/> on the coordinator's thread.</summary>
    internal void BeginInline(int index)
    {
        _index = index;
        HasTurn = false;
    }

    /// <summary>The coordinator's step has ended: whether it took its turn.</summary>
    internal bool EndInline()
    {
        bool hadTurn = HasTurn;
        HasTurn = false;
        return hadTurn;
    }

    internal void Stop()
    {
        if (_thread is null) return;
        _exit = true;
        _go.Release();
        // A parked lane ends at once; one that could not (a step still waiting) is left to die with the process.
        _thread.Join(TimeSpan.FromSeconds(5));
    }

    // Called on the lane's thread from Turn.Take: the step stops here until its turn, and another lane goes on
    // with the steps left.
    internal void WaitForTurn()
    {
        if (_thread is null)
        {
            // The coordinator's step: the steps after it run to their stops on lanes, and then its turn is first.
            Owner.RunOthersInline(_index);
            HasTurn = true;
            if (Owner.Failed) throw new TickAbortedException();
            return;
        }
        Owner.Stopped(this, _index);
        _turn.Wait();
        if (Volatile.Read(ref _prewoken))
        {
            // Woken early: spin until the turn is granted (a bounded while: then sleep), then take the grant's release.
            var spin = new SpinWait();
            long until = Environment.TickCount64 + SpinMilliseconds;
            while (!Volatile.Read(ref _granted) && Environment.TickCount64 < until) spin.SpinOnce(sleep1Threshold: -1);
            _turn.Wait();
        }
        _granted = _prewoken = false;
        HasTurn = true;
        // Another step failed: this one stops here, as a loop would never have reached it.
        if (Owner.Failed) throw new TickAbortedException();
        Owner.TurnStarted();
    }

    private void Loop()
    {
        while (true)
        {
            _go.Wait();
            if (_exit) return;
            Turn.Enter(this);
            bool finishedInTurn = false;
            while (Owner.TryTakeStep(out _index))
            {
                HasTurn = false;
                Owner.RunStep(_index);
                if (HasTurn)
                {
                    // The step finished in its turn; another lane took over the parallel phase long ago.
                    HasTurn = false;
                    finishedInTurn = true;
                    break;
                }
            }
            Turn.Enter(null);
            if (finishedInTurn) Owner.TurnFinished(this);
            else Owner.LeftParallel(this);
        }
    }
}
