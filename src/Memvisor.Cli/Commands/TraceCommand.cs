using Memvisor.Machine.Frames;
using System.CommandLine;
using System.Diagnostics;
using Memvisor.Native;
using Memvisor.Guest.Mm;
using Memvisor.Guest.Workloads.Trace;
using Memvisor.Report.Output;
using Spectre.Console;

namespace Memvisor.Cli.Commands;

/// <summary><c>memvisor trace convert|stats</c>: turns Valgrind lackey text into Memvisor's binary trace format, and describes a trace.</summary>
public static class TraceCommand
{
    public static Command Build()
    {
        var input = new Argument<string>("input") { Description = "A lackey trace (valgrind --tool=lackey --trace-mem=yes) or a binary trace." };
        var output = new Argument<string>("output") { Description = "The binary trace to write (by convention .mvt)." };
        var convert = new Command("convert", "Convert a lackey text trace to the compact binary format, which replays several times faster.") { input, output };
        convert.SetAction(p => Convert(p.GetValue(input)!, p.GetValue(output)!, Interrupt.Token));

        var trace = new Argument<string>("trace") { Description = "A lackey or binary trace." };
        var stats = new Command("stats", "Count a trace's records by kind and the distinct 4 KiB pages it touches (its footprint).") { trace };
        stats.SetAction(p => Guarded(() =>
        {
            var cancel = Interrupt.Token;
            using var reader = TraceFile.Open(p.GetValue(trace)!);
            var byKind = new long[4];
            var pages = new HashSet<ulong>();
            var buffer = new TraceRecord[4096];
            int n;
            while ((n = reader.Read(buffer)) > 0)
            {
                cancel.ThrowIfCancellationRequested();
                foreach (var r in buffer.AsSpan(0, n))
                {
                    byKind[(int)r.Kind]++;
                    pages.Add(r.Address >> PageSize.Shift);
                    pages.Add(r.LastPage);
                }
            }
            var table = new Table().AddColumns("records", "instructions", "loads", "stores", "modifies", "distinct pages", "footprint MiB");
            table.AddRow($"{byKind.Sum()}", $"{byKind[(int)AccessKind.Instruction]}", $"{byKind[(int)AccessKind.Load]}", $"{byKind[(int)AccessKind.Store]}",
                $"{byKind[(int)AccessKind.Modify]}", $"{pages.Count}", $"{pages.Count / 256.0:0.0}");
            AnsiConsole.Write(table);
        }));

        return new Command("trace", "Work with memory traces: convert lackey text to the binary format, or describe a trace.") { convert, stats };
    }

    /// <summary>
    /// <c>trace convert IN OUT</c>: the binary trace is written to a staging file beside OUT and moved into place only
    /// when complete; OUT may exist only as a binary trace Memvisor wrote.
    /// </summary>
    public static int Convert(string input, string output, CancellationToken cancel = default) => Guarded(() =>
    {
        if (FileStat.WhyNotRegular(input) is { } why) throw new TraceFormatException($"{input}: the trace {why}.");
        var wall = Stopwatch.StartNew();
        using var file = OutputFile.Prepare(output, "a binary trace", TraceFile.IsBinaryTrace);
        long records = TraceFile.Convert(input, file.OpenWrite(), cancel);
        file.Commit();
        long inBytes = new FileInfo(input).Length, outBytes = new FileInfo(file.Target).Length;
        AnsiConsole.MarkupLine($"Wrote {records:N0} records to [bold]{Markup.Escape(output)}[/]: {outBytes:N0} bytes " +
            $"({(double)outBytes / Math.Max(1, records):0.00} per record, {(double)inBytes / Math.Max(1, outBytes):0.0}x smaller) in {wall.Elapsed.TotalSeconds:0.0} s.");
    });

    private static int Guarded(Action action) => Guard.Run(() =>
    {
        try
        {
            action();
            return ExitCodes.Ok;
        }
        catch (Exception e) when (e is TraceFormatException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"memvisor: {Errors.Printable(e.Message)}");
            return ExitCodes.BadInput;
        }
    });
}
