using System.CommandLine;
using System.Text.Json;
using Memvisor.Native;
using Memvisor.Policy.Snapshot;
using Memvisor.Sim.Policies;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Cli.Commands;

/// <summary><c>memvisor decide --policy NAME SNAPSHOT.json</c>: one decision of a policy, with its default settings, on a snapshot; the actions as JSON.</summary>
public static class DecideCommand
{
    public static Command Build()
    {
        var snapshot = new Argument<string>("snapshot") { Description = "A snapshot of host and guest statistics (JSON, as 'memvisor run --snapshots' writes; see docs/outputs.md)." };
        var policy = new Option<string>("--policy") { Description = $"The policy: {string.Join(", ", PolicySpec.Names)}.", Required = true };
        var command = new Command("decide", "Run one decision step of a policy on a snapshot and print the toolstack actions it takes, as JSON.")
        {
            snapshot, policy,
        };
        command.SetAction(p => Run(p.GetValue(snapshot)!, p.GetValue(policy)!));
        return command;
    }

    private const long MaxSnapshotBytes = 256L << 20;

    public static int Run(string path, string policyName)
    {
        if (!PolicySpec.Names.Contains(policyName))
        {
            Console.Error.WriteLine($"memvisor: --policy: '{policyName}' is not a policy; the policies are {string.Join(", ", PolicySpec.Names)}.");
            return ExitCodes.BadInput;
        }
        // A FIFO or a device would never end; a directory cannot be read; a snapshot is at most a few MiB.
        if (FileStat.WhyNotRegular(path) is { } why)
        {
            Console.Error.WriteLine($"memvisor: {path}: the snapshot {why}.");
            return ExitCodes.BadInput;
        }
        HostSnapshot host;
        try
        {
            if (new FileInfo(path).Length > MaxSnapshotBytes)
            {
                Console.Error.WriteLine($"memvisor: {path}: the snapshot is larger than {MaxSnapshotBytes >> 20} MiB; a snapshot of even {SnapshotCheck.MaxDomains} domains is smaller.");
                return ExitCodes.BadInput;
            }
            using var input = File.OpenRead(path);
            host = SnapshotJson.Read(input);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"memvisor: {Errors.Printable(path)}: the snapshot could not be read: {Errors.Printable(e.Message)}");
            return ExitCodes.BadInput;
        }
        catch (JsonException e)
        {
            Console.Error.WriteLine($"{Errors.Printable(path)}:{(e.LineNumber ?? 0) + 1}: {e.Path ?? "$"}: this is not a snapshot: {e.Message}");
            return ExitCodes.BadInput;
        }
        if (SnapshotCheck.FirstProblem(host) is var (field, message))
        {
            Console.Error.WriteLine($"{path}: {field}: this snapshot cannot be decided on: {message}");
            return ExitCodes.BadInput;
        }
        var policy = PolicyFactory.Create(new PolicySpec { Name = policyName });
        Console.Out.WriteLine(SnapshotJson.Actions(policy.Decide(host)));
        return ExitCodes.Ok;
    }
}
