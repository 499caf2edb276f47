using System.Diagnostics;

namespace Memvisor.Sim.Engine;

/// <summary>
/// Where a run's wall-clock time went, by part of the simulation: the guests' steps (workloads, the guest kernels,
/// their accesses through the MMU and port), the hypervisor's background step (sharing scanner, pager, samplers),
/// the policy's decisions and the metrics (time series and reclaim-latency samples). Wall time is not deterministic:
/// it goes to run.json only.
/// </summary>
public sealed class WallSplit
{
    public long GuestsTicks { get; private set; }
    public long HypervisorTicks { get; private set; }
    public long PolicyTicks { get; private set; }
    public long MetricsTicks { get; private set; }
    /// <summary>The sharing scanner's part of <see cref="HypervisorTicks"/>.</summary>
    public long ScannerTicks { get; private set; }

    public static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;

    internal static long Now() => Stopwatch.GetTimestamp();

    internal void Guests(long since) => GuestsTicks += Stopwatch.GetTimestamp() - since;
    internal void Hypervisor(long since) => HypervisorTicks += Stopwatch.GetTimestamp() - since;
    internal void Metrics(long since) => MetricsTicks += Stopwatch.GetTimestamp() - since;

    /// <summary>How many guests could step at once, and how the steps went (see <see cref="Memvisor.Machine.Lanes.TickLanes"/>).</summary>
    public int Threads { get; private set; } = 1;
    public long GuestSteps { get; private set; }
    public long GuestStepsWithTurn { get; private set; }

    internal WallSplit WithLanes(Memvisor.Machine.Lanes.TickLanes lanes)
    {
        (Threads, GuestSteps, GuestStepsWithTurn) = (lanes.Threads, lanes.Steps, lanes.StepsWithTurn);
        return this;
    }

    internal WallSplit WithScanner(long ticks)
    {
        ScannerTicks = ticks;
        return this;
    }

    /// <summary>Charges an event that began at <paramref name="since"/> to its part (a tick times its own parts); returns now.</summary>
    internal long After(EventKind kind, long since)
    {
        long now = Stopwatch.GetTimestamp();
        if (kind == EventKind.Sample) MetricsTicks += now - since;
        else if (kind == EventKind.Policy) PolicyTicks += now - since;
        return now;
    }
}
