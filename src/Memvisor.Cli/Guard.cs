using Memvisor.Machine.Lanes;
using Memvisor.Report.Output;

namespace Memvisor.Cli;

/// <summary>Runs a command's body and turns what may go wrong outside the simulation into an exit code and one sentence.</summary>
internal static class Guard
{
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (OutputException e)
        {
            Console.Error.WriteLine($"memvisor: {Errors.Printable(e.Message)}");
            return e.Failure == OutputFailure.Refused ? ExitCodes.BadInput : ExitCodes.Failure;
        }
        catch (Exception e) when (External(e) is { } external)
        {
            Console.Error.WriteLine($"memvisor: {Errors.Printable(external.Message)} No results were written.");
            return ExitCodes.Failure;
        }
        catch (Exception e) when (Lanes(e) is { } lanes)
        {
            Console.Error.WriteLine($"memvisor: {Errors.Printable(lanes.Message)} No results were written.");
            return ExitCodes.Failure;
        }
        catch (Exception e) when (IsCancellation(e))
        {
            Console.Error.WriteLine("memvisor: interrupted; no results were written and nothing was left behind.");
            return Interrupt.ExitCode;
        }
    }

    // Why guests could not be stepped on lanes, alone or as the reason a parallel run stopped.
    private static LaneException? Lanes(Exception e) =>
        e as LaneException ?? (e as AggregateException)?.Flatten().InnerExceptions.OfType<LaneException>().FirstOrDefault();

    // An external policy's program that failed the protocol, alone or as the reason a parallel run stopped.
    private static Sim.Policies.ExternalPolicyException? External(Exception e) =>
        e as Sim.Policies.ExternalPolicyException ?? (e as AggregateException)?.Flatten().InnerExceptions.OfType<Sim.Policies.ExternalPolicyException>().FirstOrDefault();

    /// <summary>An interrupt, alone or as the reason every parallel run stopped.</summary>
    public static bool IsCancellation(Exception e) =>
        e is OperationCanceledException || (e is AggregateException a && a.Flatten().InnerExceptions.All(x => x is OperationCanceledException));
}
