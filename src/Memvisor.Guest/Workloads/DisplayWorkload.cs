using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;

namespace Memvisor.Guest.Workloads;

/// <summary>
/// A desktop's display: in each phase the area of the screen being redrawn (the phase's working set; 0 while the
/// screen is still) is drawn page by page in scanline order at the rate, in pages per second; the phases repeat.
/// It needs the guest's framebuffer (the domain's videoram).
/// </summary>
public sealed class DisplayWorkload(IReadOnlyList<Phase> phases, double ratePerSecond) : IWorkload
{
    private readonly long _cycleNs = phases.Sum(p => p.DurationNs);
    private double _credit;
    private long _cursor;

    public string Kind => "display";
    public IReadOnlyList<Process> Processes => [];

    public void Step(GuestKernel k, long nowNs, long dtNs)
    {
        if (k.Framebuffer is not { } fb || phases.Count == 0) return;
        long t = _cycleNs <= 0 ? 0 : nowNs % _cycleNs;
        int i = 0;
        while (i < phases.Count - 1 && t >= phases[i].DurationNs) t -= phases[i++].DurationNs;
        long area = Math.Min(phases[i].WorkingSetPages, fb.Pages);
        if (area <= 0)
        {
            _credit = 0;
            return;
        }
        long n = k.TakeAccesses(ref _credit, ratePerSecond, dtNs);
        for (long a = 0; a < n && !k.Stalled; a++) fb.Draw(_cursor++ % area);
    }
}
