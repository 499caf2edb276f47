using Memvisor.Guest.Kernel;
using Memvisor.Guest.Memory;
using Memvisor.Seam;

namespace Memvisor.Guest.PageReporting;

/// <summary>
/// Free page reporting after Linux mm/page_reporting.c with virtio-balloon's VIRTIO_BALLOON_F_REPORTING: every 2 s
/// (the page_reporting delay) the guest looks for free, 2 MiB-aligned blocks of order 9 and reports the ones it has
/// not reported yet; the hypervisor takes their frames and gives a zeroed one back on the next touch. A block that
/// is partly in use when looked at loses its reported mark, so it is reported again once it is wholly free.
/// </summary>
public sealed class FreePageReporter(GuestKernel k)
{
    public const int Order = 9;
    public const long DelayNs = 2_000_000_000;
    private const int BlockPages = 1 << Order;
    private const int Batch = 32;

    private readonly ulong[] _batch = new ulong[Batch];
    private bool[] _reported = [];
    private long _nextNs = DelayNs;

    public long PagesReported { get; private set; }
    public long Reports { get; private set; }

    public void Step(long nowNs)
    {
        if (nowNs < _nextNs) return;
        _nextNs = nowNs + DelayNs;
        long blocks = k.Pages.Length / BlockPages;
        if (_reported.Length < blocks) Array.Resize(ref _reported, (int)blocks);
        int n = 0;
        for (long b = 0; b < blocks; b++)
        {
            if (!WhollyFree((ulong)b * BlockPages))
            {
                _reported[b] = false;
                continue;
            }
            if (_reported[b]) continue;
            _batch[n++] = (ulong)b * BlockPages;
            _reported[b] = true;
            if (n == Batch) n = Flush(n);
        }
        Flush(n);
    }

    private bool WhollyFree(ulong first)
    {
        for (ulong g = first; g < first + BlockPages; g++)
            if (k.Pages.UseOf(g) != PageUse.Free) return false;
        return true;
    }

    private int Flush(int n)
    {
        if (n == 0) return 0;
        if (k.Memory.ReportFreePages(_batch.AsSpan(0, n), Order) == XenErrno.Ok)
        {
            PagesReported += (long)n * BlockPages;
            Reports++;
        }
        return 0;
    }
}
