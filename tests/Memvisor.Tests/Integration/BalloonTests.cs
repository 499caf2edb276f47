using Memvisor.Guest.Balloon;
using Memvisor.Guest.Hotplug;
using Memvisor.Guest.Memory;
using Memvisor.Guest.Workloads;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.P2m;
using Memvisor.Seam;
using Memvisor.Machine.Frames;
using Memvisor.Hypervisor;

namespace Memvisor.Tests.Integration;

public class BalloonTests
{
    [Fact]
    public void The_balloon_moves_at_its_rate_and_reports_what_the_guest_holds()
    {
        var (hv, k) = GuestOnHost.Boot(8192, 0, configure: o => o with { Balloon = new BalloonOptions { RatePagesPerSecond = 5120 } });
        var d = hv.Domains.Single();
        Assert.Equal("1", hv.Store.Read(Host.StorePath(d, StoreKeys.FeatureBalloon)));
        hv.DomCtl.SetTarget(d.DomId, 4096);
        GuestOnHost.Run(k, 5);                                       // 0.5 s at 5120 pages/s
        Assert.InRange(8192 - k.HeldPages, 2560 - 256, 2560);
        Assert.Equal(PageSize.ToKiB(k.HeldPages), hv.Store.ReadLong(Host.StorePath(d, StoreKeys.Current), -1));
        GuestOnHost.Run(k, 10, 5 * GuestOnHost.Tick);
        Assert.Equal(4096, k.HeldPages);
        Assert.Equal(4096, d.TotPages);
    }

    [Fact]
    public void The_balloon_never_takes_the_guest_below_its_kernel_reserve()
    {
        var (hv, k) = GuestOnHost.Boot(8192, 1024, new SteadyWorkload(1000, 5000, 0.5));
        var d = hv.Domains.Single();
        GuestOnHost.Run(k, 5);
        hv.DomCtl.SetTarget(d.DomId, 16);
        GuestOnHost.Run(k, 30, 5 * GuestOnHost.Tick);
        long kernel = k.Pages.CountOf(PageUse.Kernel) + k.Pages.CountOf(PageUse.PageTable);
        Assert.True(k.Balloon.FloorPages >= kernel + k.Allocator.HighPages);
        Assert.Equal(k.Balloon.FloorPages, k.HeldPages);
        Assert.Equal(0, k.Stats.OomKills);
        Assert.Equal(0, k.Integrity!.VerifyAll());
    }

    [Fact]
    public void Without_a_balloon_driver_the_guest_ignores_its_target()
    {
        var (hv, k) = GuestOnHost.Boot(4096, 0, configure: o => o with { Balloon = new BalloonOptions { Enabled = false } });
        var d = hv.Domains.Single();
        Assert.Null(hv.Store.Read(Host.StorePath(d, StoreKeys.FeatureBalloon)));
        hv.DomCtl.SetTarget(d.DomId, 2048);
        GuestOnHost.Run(k, 10);
        Assert.Equal(4096, k.HeldPages);
    }

    [Fact]
    public void Self_ballooning_moves_an_eighth_of_the_way_down_and_all_the_way_up_never_below_its_floor()
    {
        var (hv, k) = GuestOnHost.Boot(16384, 0, hostFrames: 32768, configure: o => o with
        {
            SelfBalloon = new SelfBalloonOptions { Enabled = true, IntervalNs = GuestOnHost.Tick, MinUsablePages = 1024 },
        });
        var p = k.Spawn("app")!;
        k.MapAnonymous(p, 2000);
        long held = k.HeldPages, goal = k.MemInfo().CommittedAs + k.Allocator.HighPages;
        k.Step(0, GuestOnHost.Tick);
        Assert.Equal(goal, k.SelfBalloon!.GoalPages);
        Assert.Equal(held - (held - goal) / 8, k.Balloon.SelfTargetPages);
        GuestOnHost.Run(k, 200, GuestOnHost.Tick);
        long floor = k.Allocator.HighPages + 1024;
        Assert.InRange(k.HeldPages, Math.Max(goal, floor), goal + goal / 10);

        // More committed memory: the target jumps to the new goal at the next interval (uphysteresis 1).
        k.MapAnonymous(p, 6000);
        GuestOnHost.Run(k, 2, 201 * GuestOnHost.Tick);
        long newGoal = k.MemInfo().CommittedAs + k.Allocator.HighPages;
        Assert.InRange(k.Balloon.SelfTargetPages, newGoal - 64, newGoal + 64);
        GuestOnHost.Run(k, 20, 203 * GuestOnHost.Tick);
        Assert.InRange(k.HeldPages, newGoal - 64, newGoal + 64);
        Assert.Equal(k.HeldPages, hv.Domains.Single().TotPages);
    }

    [Fact]
    public void Hot_add_plugs_blocks_up_to_the_request_and_hot_remove_migrates_pages_out_without_losing_a_byte()
    {
        const long block = 1024;
        var w = new SteadyWorkload(5000, 40_000, 0.7);
        var (hv, k) = GuestOnHost.Boot(4096, 2048, w, maxPages: 4096 + 4 * block,
            configure: o => o with { Hotplug = new HotplugOptions { Enabled = true, BlockPages = block, BlocksPerSecond = 100 } });
        var d = hv.Domains.Single();
        string requested = Host.StorePath(d, StoreKeys.HotplugRequested);
        hv.Store.Write(requested, PageSize.ToKiB(3 * block));
        hv.DomCtl.SetTarget(d.DomId, 4096 + 3 * block);
        GuestOnHost.Run(k, 20);
        Assert.Equal(3, k.Hotplug!.PluggedBlocks);
        Assert.Equal(4096 + 3 * block, k.HeldPages);
        Assert.Equal(k.HeldPages, d.TotPages);
        Assert.Equal(PageSize.ToKiB(3 * block), hv.Store.ReadLong(Host.StorePath(d, StoreKeys.HotplugPlugged), -1));
        Assert.True(k.Pages.CountOf(PageUse.Anon) > 4096, $"the workload did not spread into the plugged memory: {k.Pages.CountOf(PageUse.Anon)} anon, {k.FreePages} free, {k.Stats.Accesses} accesses");

        hv.Store.Write(requested, PageSize.ToKiB(1 * block));
        hv.DomCtl.SetTarget(d.DomId, 4096 + block);
        GuestOnHost.Run(k, 30, 20 * GuestOnHost.Tick);
        Assert.Equal(1, k.Hotplug.PluggedBlocks);
        // The hot-plug driver steps before the balloon, so both blocks went offline whole.
        Assert.Equal(2 * block, k.Stats.HotplugPagesRemoved);
        Assert.True(k.Stats.PagesMigrated > 0, "no page had to be migrated: the test did not exercise offlining");
        long offline = 0;
        for (ulong gfn = 4096; gfn < (ulong)(4096 + 4 * block); gfn++)
        {
            if (k.Hotplug.IsOnline(gfn)) continue;
            offline++;
            Assert.Equal(PageUse.Unheld, k.Pages[gfn].Use);
            Assert.False(d.P2m.Get(gfn).IsMapped);
        }
        Assert.Equal(3 * block, offline);
        Assert.Equal(k.HeldPages, d.TotPages);
        Assert.Equal(0, k.Integrity!.VerifyAll());
        Assert.Equal(0, k.Integrity.Violations);
        Assert.Empty(Auditor.Check(hv));
    }

}
