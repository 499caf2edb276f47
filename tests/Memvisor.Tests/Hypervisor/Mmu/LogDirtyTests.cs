using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Machine.Content;
using Memvisor.Tests.Support;
using Memvisor.Hypervisor.Mmu.LogDirty;
using Memvisor.Machine.Time;
using Memvisor.Seam;

namespace Memvisor.Tests.Hypervisor.Mmu;

public class LogDirtyTests
{
    [Fact]
    public void The_first_write_to_a_page_each_round_faults_clean_returns_and_resets_and_peek_only_returns()
    {
        var log = new LogDirtyBitmap(1000);
        Assert.True(log.OnWrite(5));
        Assert.False(log.OnWrite(5));
        Assert.True(log.OnWrite(700));
        Span<ulong> dirty = stackalloc ulong[8];
        Assert.Equal(2, log.Peek(0, 1000, dirty));
        Assert.Equal(2, log.Peek(0, 1000, dirty));
        Assert.Equal(1, log.Clean(0, 600, dirty));
        Assert.Equal(5UL, dirty[0]);
        Assert.False(log.IsDirty(5));
        Assert.True(log.IsDirty(700));
        Assert.True(log.OnWrite(5));
        Assert.Equal(3, log.Faults);
    }

    [Fact]
    public void Video_RAM_tracking_costs_less_than_polling_and_dropping_it_after_two_idle_seconds_saves_more()
    {
        var costs = new CostModel();
        var vram = new VramTracker(firstGfn: 1000, pages: 2048, costs);
        const long Ms = 1_000_000;
        // One second of a busy screen (64 pages written per 10 ms), nine idle seconds, then one write.
        for (long t = 0; t < 10_000; t += 10)
        {
            if (t < 1000)
                for (ulong i = 0; i < 64; i++) vram.OnWrite(1000 + (ulong)(t / 10 * 64 % 2048) + i);
            vram.Step(10 * Ms);
        }
        Assert.Equal(1, vram.Drops);
        Assert.True(vram.Dropped);
        vram.OnWrite(1500);
        Assert.Equal(1, vram.Resumes);
        Assert.False(vram.Dropped);

        Assert.Equal(vram.Refreshes * 2048 * costs.VramComparePageNs, vram.PollingNs);
        Assert.True(vram.TrackingNs < vram.PollingNs / 5, $"tracking {vram.TrackingNs} ns vs polling {vram.PollingNs} ns");
        Assert.True(vram.TrackingWithDropNs < vram.TrackingNs / 2, $"with drop {vram.TrackingWithDropNs} ns vs tracking {vram.TrackingNs} ns");
        Assert.Equal(64 * 100, vram.DirtyPagesReturned);
    }

    [Fact]
    public void A_domain_in_log_dirty_mode_logs_each_page_s_first_write_per_round_and_clean_starts_a_new_round()
    {
        var hv = TestHost.Create();
        var d = TestHost.Domain(hv, "g", 1024, 1024);
        var port = hv.PortFor(d);
        var dirty = new ulong[64];
        Assert.Equal(XenErrno.EINVAL, hv.DomCtl.LogDirtyOp(d.DomId, LogDirtyOperation.Peek, dirty, out _));
        port.Touch(new Gfn(5), write: true, ContentHandle.Zero);                     // before log-dirty mode: not logged
        Assert.Equal(XenErrno.Ok, hv.DomCtl.LogDirtyOp(d.DomId, LogDirtyOperation.Enable, dirty, out _));
        foreach (ulong gfn in new ulong[] { 7, 300, 7, 1023 }) port.Touch(new Gfn(gfn), write: true, ContentHandle.Zero);
        port.Touch(new Gfn(9), write: false, ContentHandle.Zero);                    // a read dirties nothing
        Assert.True(port.WriteWord(new Gfn(40), 3, 0xABC));                          // a page-table write is a write too
        Assert.Equal(XenErrno.Ok, hv.DomCtl.LogDirtyOp(d.DomId, LogDirtyOperation.Peek, dirty, out int peeked));
        Assert.Equal([7UL, 40, 300, 1023], dirty[..peeked]);
        Assert.Equal(XenErrno.Ok, hv.DomCtl.LogDirtyOp(d.DomId, LogDirtyOperation.Clean, dirty, out int cleaned));
        Assert.Equal(4, cleaned);
        Assert.Equal(4, d.Mmu!.Stats.Exits[(int)ExitReason.LogDirty]);    // one fault per page per round
        port.Touch(new Gfn(300), write: true, ContentHandle.Zero);
        port.Touch(new Gfn(300), write: true, ContentHandle.Zero);
        Assert.Equal(XenErrno.Ok, hv.DomCtl.LogDirtyOp(d.DomId, LogDirtyOperation.Clean, dirty, out cleaned));
        Assert.Equal([300UL], dirty[..cleaned]);
        Assert.Equal(5, d.Mmu.Stats.Exits[(int)ExitReason.LogDirty]);
        Assert.Equal(XenErrno.Ok, hv.DomCtl.LogDirtyOp(d.DomId, LogDirtyOperation.Off, dirty, out _));
        port.Touch(new Gfn(8), write: true, ContentHandle.Zero);
        Assert.Equal(5, d.Mmu.Stats.Exits[(int)ExitReason.LogDirty]);
    }
}
