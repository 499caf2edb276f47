using System.Runtime.InteropServices;

namespace Memvisor.Cli;

/// <summary>
/// SIGINT, SIGTERM and SIGHUP: the first one cancels <see cref="Token"/>, which every long command watches between
/// steps, so the command unwinds and removes its staging directory and temporary swap files before it exits. A step
/// can be long (thousands of guests in one tick), so if the process is still running <see cref="GracePeriod"/> later
/// it exits anyway, and the same files are removed by their owners' process-exit handlers. A second signal ends the
/// process at once, as the signal would.
/// </summary>
internal static class Interrupt
{
    /// <summary>How long after a signal the process may still run; the daemon, whose last step may wait on a QEMU's timeout, takes longer.</summary>
    public static TimeSpan GracePeriod { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>What is said when the grace period runs out.</summary>
    public static string DeadlineMessage { get; set; } = "memvisor: interrupted; no results were written and nothing was left behind.";
    private static readonly CancellationTokenSource Source = new();
    private static readonly List<PosixSignalRegistration> Registrations = [];
    private static Timer? _deadline;
    private static int _signal;

    public static CancellationToken Token => Source.Token;

    /// <summary>The exit code a shell expects of a process ended by the signal received (128 + its number).</summary>
    public static int ExitCode => 128 + (_signal == 0 ? 2 : _signal);

    public static void Install()
    {
        foreach (var (signal, number) in new[] { (PosixSignal.SIGINT, 2), (PosixSignal.SIGTERM, 15), (PosixSignal.SIGHUP, 1) })
            Registrations.Add(PosixSignalRegistration.Create(signal, context =>
            {
                if (Source.IsCancellationRequested) return;
                context.Cancel = true;
                _signal = number;
                _deadline = new Timer(_ =>
                {
                    Console.Error.WriteLine(DeadlineMessage);
                    Environment.Exit(ExitCode);
                }, null, GracePeriod, Timeout.InfiniteTimeSpan);
                Source.Cancel();
            }));
    }
}
