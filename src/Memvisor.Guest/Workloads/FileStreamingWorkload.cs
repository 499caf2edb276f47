using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;
using Memvisor.Guest.PageCache;

namespace Memvisor.Guest.Workloads;

/// <summary>
/// One process streaming through a file with read() and write() (a backup, a log scan): pages in order at the
/// rate, wrapping at the end, a share of them rewritten. It churns the page cache: pages read once stay inactive
/// and are the first reclaimed; rewritten pages are dirty until written back.
/// </summary>
public sealed class FileStreamingWorkload(long filePages, double pagesPerSecond, double writeFraction) : IWorkload
{
    private readonly List<Process> _processes = [];
    private Process? _p;
    private GuestFile? _file;
    private double _credit;
    private long _position;

    public string Kind => "file-streaming";
    public IReadOnlyList<Process> Processes => _processes;

    public void Step(GuestKernel k, long nowNs, long dtNs)
    {
        if (_p is null)
        {
            _p = ProcessStart.Run(k, "stream", _processes);
            if (_p is null) return;
            _file = k.CreateDataFile("/srv/data.bin", filePages);
        }
        long n = k.TakeAccesses(ref _credit, pagesPerSecond, dtNs);
        for (long i = 0; i < n && !_p.Exited && !k.Stalled; i++)
        {
            bool write = writeFraction > 0 && k.NextDouble() < writeFraction;
            if (write ? k.WriteFile(_file!, _position) : k.ReadFile(_file!, _position))
            {
                if (write) _p.Counters.Stores++; else _p.Counters.Loads++;
            }
            _position = (_position + 1) % filePages;
        }
    }
}
