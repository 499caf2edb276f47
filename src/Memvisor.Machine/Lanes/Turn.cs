namespace Memvisor.Machine.Lanes;

/// <summary>
/// The rule that lets the guests of one tick step on several cores and still give one answer. During a tick's
/// parallel phase each guest runs on its own lane and may touch only what is its own (its p2m, its frames' contents,
/// its TLB, its counters) and read what nobody changes in that phase. Anything else (the heap, the content store, a
/// shared or granted frame, tmem, the paging file, the logs, another domain) is touched only in the lane's turn: the
/// code that would touch it calls <see cref="Take"/> first, which stops the lane there until every lane has stopped
/// or finished, and then gives the lanes their turns one after another in domain order. A run is thus the same as
/// running, one after another, every guest's step up to its first such call, then the rest of every step in domain
/// order, on one core or on many.
/// </summary>
public static class Turn
{
    [ThreadStatic] private static Lane? t_lane;

    /// <summary>Whether the calling code may touch shared state now: outside a tick's lanes, or in its lane's turn.</summary>
    public static bool Held
    {
        get
        {
            var lane = t_lane;
            return lane is null || lane.HasTurn;
        }
    }

    /// <summary>
    /// Waits, if need be, until the calling lane's turn: true if it waited, in which case anything it read of
    /// shared state or of its own domain before may have changed since and must be read again.
    /// </summary>
    public static bool Take()
    {
        var lane = t_lane;
        if (lane is null || lane.HasTurn) return false;
        lane.WaitForTurn();
        return true;
    }

    /// <summary>
    /// The check inside a structure the guests share (the heap, the content store, a log): the lane must already hold
    /// its turn, taken where it entered the hypervisor, since what it read before would otherwise be stale after a
    /// wait here. A lane without its turn stops the run (<see cref="TurnMissedException"/>).
    /// </summary>
    public static void Require(string where)
    {
        var lane = t_lane;
        if (lane is null || lane.HasTurn) return;
        throw new TurnMissedException(where);
    }

    internal static void Enter(Lane? lane) => t_lane = lane;
}
