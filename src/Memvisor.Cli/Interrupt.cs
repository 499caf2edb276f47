using System.Runtime.InteropServices;

namespace Memvisor.Cli;

/// <summary>
/// SIGINT, SIGTERM and SIGHUP: the first one cancels <see cref="Token"/>, which every long command watches, so the
/// command unwinds and removes its staging directory and temporary swap files before it exits; a second one ends the
/// process at once, as the signal would.
/// </summary>
internal static class Interrupt
{
    private static readonly CancellationTokenSource Source = new();
    private static readonly List<PosixSignalRegistration> Registrations = [];
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
                Source.Cancel();
            }));
    }
}
