using System.Diagnostics;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;

namespace Memvisor.Bench;

/// <summary>
/// What a second busy core costs the first on this machine, with nothing shared between them: each thread generates
/// synthetic pages into its own buffer (register- and L1-bound work), first alone, then N at once. A guest lane's
/// step cannot scale better across cores than this does.
/// </summary>
internal static class TwoCores
{
    public static int Run(int threads)
    {
        if (threads < 2 || threads > Environment.ProcessorCount)
        {
            Console.Error.WriteLine($"cores: give a thread count from 2 to this machine's {Environment.ProcessorCount} cores.");
            return 2;
        }
        const int Pages = 200_000;
        // Warm up, and give the JIT time to finish its optimised code before the first round.
        for (int i = 0; i < 3; i++)
        {
            Work(Pages, 0);
            Thread.Sleep(500);
        }
        Console.WriteLine("ns a page alone | ns a page on each of " + threads + " threads at once | speed-up");
        for (int round = 0; round < 3; round++)
        {
            double alone = Work(Pages, 1);
            var each = new double[threads];
            var workers = Enumerable.Range(0, threads).Select(k => new Thread(() => each[k] = Work(Pages, 2 + (ulong)k))).ToArray();
            foreach (var w in workers) w.Start();
            foreach (var w in workers) w.Join();
            double speedup = each.Sum(e => alone / e);
            Console.WriteLine($"{alone,8:F0} | {string.Join(", ", each.Select(e => e.ToString("F0"))),20} | {speedup:F2}x");
        }
        return 0;
    }

    private static double Work(int pages, ulong salt)
    {
        var page = new byte[PageSize.Bytes];
        var clock = Stopwatch.StartNew();
        int sink = 0;
        for (int i = 0; i < pages; i++)
        {
            ContentGenerator.Fill(ContentClass.Compressible, (ulong)i * 7919 + (salt << 40), page);
            sink += page[100];
        }
        GC.KeepAlive(sink);
        return clock.Elapsed.TotalNanoseconds / pages;
    }
}
