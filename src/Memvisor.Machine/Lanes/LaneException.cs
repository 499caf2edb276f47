namespace Memvisor.Machine.Lanes;

/// <summary>Why the lanes could not step a tick's guests: the run stops with this sentence, and writes nothing.</summary>
public class LaneException(string message) : Exception(message);

/// <summary>The operating system would not start another lane thread (a limit on threads or memory).</summary>
public sealed class LanesUnavailableException(int lanes, Exception cause)
    : LaneException($"Memvisor could not start thread {lanes + 1} to step guests on ({cause.GetType().Name}: {cause.Message}); the host's limit on threads or memory is reached. Run fewer domains, or raise the limit.");

/// <summary>
/// A guest's step reached a structure the guests share (the heap, the content store, a log) outside its turn: a
/// path into the hypervisor that should have taken the turn where it entered did not. Results could depend on the
/// order the lanes ran in, so the run stops instead.
/// </summary>
public sealed class TurnMissedException(string where)
    : LaneException($"A guest's step reached {where} outside its turn, which is a Memvisor bug (its results could depend on the threads); run with --threads 1 meanwhile and report it.");

/// <summary>Thrown into a step waiting for its turn when another step of the tick failed: the tick stops at the first failure, as one loop would.</summary>
internal sealed class TickAbortedException() : LaneException("Another guest's step of this tick failed first.");
