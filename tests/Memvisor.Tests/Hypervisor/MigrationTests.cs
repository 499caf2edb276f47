using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Migration;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Paging;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor;

/// <summary>Live migration by pre-copy between two hosts, as Clark et al. describe it: how the rounds converge, what the link's bandwidth does, and what a refused or failed migration leaves.</summary>
public class MigrationTests
{
    private const int Pages = 4096;            // 16 MiB
    private const long StepNs = 10_000_000;    // 10 ms

    private static Host NewHost(long frames = 16384) => new(new MachineMemory(frames, 1), new CostModel(), () => 0,
        new OvercommitOptions { Paging = new PagingOptions { SwapPages = 2048, Configured = true } });

    private static MigrationOptions Link(double mbPerSecond) => new() { BandwidthBytesPerSecond = mbPerSecond * 1e6, LatencyNs = 1_000_000 };

    // Runs a migration to its end, the guest writing `writesPerStep` pages of its first `hot` pages in each 10 ms step.
    private static (LiveMigration M, IGuestMemory Port, byte[][] Expected) Migrate(Host from, Host to, Domain d, MigrationOptions link, int writesPerStep, int hot = Pages)
    {
        var port = from.PortFor(d);
        var expected = new byte[Pages][];
        for (int g = 0; g < Pages; g++)
        {
            var content = ContentHandle.Synthetic(ContentClass.Compressible, (ulong)g + 1);
            port.Touch(new Gfn((ulong)g), true, content);
            expected[g] = new byte[PageSize.Bytes];
            from.Machine.Contents.Read(content, expected[g]);
        }
        Assert.Equal(XenErrno.Ok, from.StartMigration(d.DomId, to, link, out var m));
        ulong seed = 1000;
        for (int step = 0; m!.Phase == MigrationPhase.PreCopy && step < 100_000; step++)
        {
            for (int w = 0; w < writesPerStep; w++)
            {
                int g = (int)(seed++ * 2654435761UL % (ulong)hot);
                var content = ContentHandle.Synthetic(ContentClass.Compressible, seed);
                Assert.NotEqual(AccessOutcome.Refused, port.Touch(new Gfn((ulong)g), true, content));
                from.Machine.Contents.Read(content, expected[g]);
            }
            m.Step(StepNs);
        }
        return (m, port, expected);
    }

    private static void AssertEveryPageArrived(IGuestMemory port, byte[][] expected)
    {
        var page = new byte[PageSize.Bytes];
        for (int g = 0; g < Pages; g++)
        {
            Assert.True(port.ReadPage(new Gfn((ulong)g), page), $"gfn {g} could not be read after the migration");
            Assert.True(page.AsSpan().SequenceEqual(expected[g]), $"gfn {g} does not hold what was last written");
        }
    }

    [Fact]
    public void An_idle_domain_goes_in_one_round_with_a_downtime_of_little_more_than_the_latency()
    {
        using var from = NewHost();
        using var to = NewHost();
        var d = TestHost.Domain(from, "idle", Pages, Pages);
        var (m, port, expected) = Migrate(from, to, d, Link(100), writesPerStep: 0);
        Assert.Equal(MigrationPhase.Done, m.Phase);
        Assert.Equal(1, m.Stats.Rounds);
        Assert.Equal(0, m.Stats.StopAndCopyPages);
        Assert.Equal(1_000_000, m.Stats.DowntimeNs);
        // Every page once: 4 KiB and its 8-byte record header each, at 100 MB/s.
        Assert.Equal(Pages * (PageSize.Bytes + 8L), m.Stats.BytesSent);
        Assert.InRange(m.Stats.TotalNs, Pages * 4104 * 10L, Pages * 4104 * 10L + StepNs + 1_000_000);
        Assert.Null(from.Find(d.DomId));
        Assert.Equal(m.Destination.DomId, port.DomId);
        Assert.Equal(Pages, m.Destination.TotPages);
        AssertEveryPageArrived(port, expected);
        Assert.Empty(Auditor.Check(from));
        Assert.Empty(Auditor.Check(to));
    }

    [Fact]
    public void A_domain_writing_faster_than_the_link_sends_stops_at_the_round_limit_with_a_long_downtime()
    {
        using var from = NewHost();
        using var to = NewHost();
        var d = TestHost.Domain(from, "busy", Pages, Pages);
        // 300 pages per 10 ms is 123 MB/s of dirtying, over a 50 MB/s link.
        var (m, port, expected) = Migrate(from, to, d, Link(50), writesPerStep: 300, hot: 2048);
        Assert.Equal(MigrationPhase.Done, m.Phase);
        Assert.Equal(5, m.Stats.Rounds);
        Assert.True(m.Stats.WritableWorkingSetPages > 1000, $"writable working set {m.Stats.WritableWorkingSetPages}");
        Assert.True(m.Stats.DowntimeNs > 50 * 1_000_000, $"downtime {m.Stats.DowntimeNs} ns");
        Assert.True(m.Stats.PagesSent > Pages, "the rounds after the first resent nothing");
        AssertEveryPageArrived(port, expected);
        Assert.Empty(Auditor.Check(to));
    }

    [Fact]
    public void Doubling_the_bandwidth_shortens_the_migration_and_its_downtime()
    {
        long Total(double mb, out long downtime)
        {
            using var from = NewHost();
            using var to = NewHost();
            var d = TestHost.Domain(from, "web", Pages, Pages);
            var (m, port, expected) = Migrate(from, to, d, Link(mb), writesPerStep: 20, hot: 512);
            Assert.Equal(MigrationPhase.Done, m.Phase);
            AssertEveryPageArrived(port, expected);
            downtime = m.Stats.DowntimeNs;
            return m.Stats.TotalNs;
        }
        long slow = Total(100, out long slowDown), fast = Total(200, out long fastDown);
        Assert.True(fast < slow * 0.6, $"100 MB/s: {slow} ns, 200 MB/s: {fast} ns");
        Assert.True(fastDown <= slowDown, $"downtime 100 MB/s: {slowDown} ns, 200 MB/s: {fastDown} ns");
    }

    [Fact]
    public void A_destination_that_cannot_hold_the_domain_refuses_it_and_nothing_changes()
    {
        using var from = NewHost();
        using var to = NewHost(frames: 2048);
        var d = TestHost.Domain(from, "big", Pages, Pages);
        string before = TestHost.Fingerprint(from) + TestHost.Fingerprint(to);
        Assert.Equal(XenErrno.ENOMEM, from.StartMigration(d.DomId, to, Link(100), out var m));
        Assert.Null(m);
        Assert.Equal(before, TestHost.Fingerprint(from) + TestHost.Fingerprint(to));
        Assert.Null(d.Mmu!.LogDirty);
    }

    [Fact]
    public void Paged_out_pages_are_deferred_to_the_stop_and_copy_and_read_from_swap_there()
    {
        using var from = NewHost();
        using var to = NewHost();
        var d = TestHost.Domain(from, "paged", Pages, Pages);
        var port = from.PortFor(d);
        // Gfns 1..100 (the pager leaves gfn 0 alone).
        var page = new byte[PageSize.Bytes];
        var expected = new byte[101][];
        for (ulong g = 1; g <= 100; g++)
        {
            var content = ContentHandle.Synthetic(ContentClass.Incompressible, g + 7);
            port.Touch(new Gfn(g), true, content);
            Assert.True(from.Paging.Evict(d, g));
            expected[g] = new byte[PageSize.Bytes];
            from.Machine.Contents.Read(content, expected[g]);
        }
        Assert.Equal(XenErrno.Ok, from.StartMigration(d.DomId, to, Link(100), out var m));
        while (m!.Phase == MigrationPhase.PreCopy) m.Step(StepNs);
        Assert.Equal(100, m.Stats.DeferredPages);
        Assert.Equal(100, m.Stats.StopAndCopyPages);
        // 100 swap reads of 100 us each are in the downtime.
        Assert.True(m.Stats.DowntimeNs >= 100 * 100_000, $"downtime {m.Stats.DowntimeNs} ns");
        for (ulong g = 1; g <= 100; g++)
        {
            Assert.True(port.ReadPage(new Gfn(g), page));
            Assert.Equal(expected[g], page);
        }
        Assert.Empty(Auditor.Check(from));
        Assert.Empty(Auditor.Check(to));
    }

    [Fact]
    public void A_source_destroyed_during_the_pre_copy_fails_the_migration_and_frees_the_destination()
    {
        using var from = NewHost();
        using var to = NewHost();
        long free = to.Machine.FreeFrames;
        var d = TestHost.Domain(from, "gone", Pages, Pages);
        Assert.Equal(XenErrno.Ok, from.StartMigration(d.DomId, to, Link(100), out var m));
        Assert.True(to.Machine.FreeFrames < free - Pages);
        Assert.Equal(XenErrno.EBUSY, from.StartMigration(d.DomId, to, Link(100), out _));
        m!.Step(StepNs);
        Assert.Equal(XenErrno.Ok, from.DestroyDomain(d.DomId));
        m.Step(StepNs);
        Assert.Equal(MigrationPhase.Failed, m.Phase);
        Assert.Contains("destroyed", m.Stats.FailedBecause);
        Assert.Empty(to.Domains);
        Assert.Empty(Auditor.Check(to));
    }

    [Fact]
    public void A_domain_whose_address_space_grows_during_the_pre_copy_is_not_moved_and_keeps_running()
    {
        using var from = NewHost();
        using var to = NewHost();
        var d = TestHost.Domain(from, "grows", Pages, Pages);
        Assert.Equal(XenErrno.Ok, from.StartMigration(d.DomId, to, Link(100), out var m));
        Assert.Equal(XenErrno.Ok, from.MemoryOp.MaxMem(d.DomId, 2 * Pages));
        while (m!.Phase == MigrationPhase.PreCopy) m.Step(StepNs);
        Assert.Equal(MigrationPhase.Failed, m.Phase);
        Assert.Contains("grew", m.Stats.FailedBecause);
        Assert.Same(d, from.Find(d.DomId));
        Assert.Null(d.Mmu!.LogDirty);
        Assert.Empty(to.Domains);
        Assert.Empty(Auditor.Check(from));
        Assert.Empty(Auditor.Check(to));
    }

    [Fact]
    public void Each_round_after_the_first_sends_exactly_what_the_round_before_dirtied_and_the_guest_pays_the_downtime()
    {
        using var from = NewHost();
        using var to = NewHost();
        var d = TestHost.Domain(from, "sixty", Pages, Pages);
        var port = from.PortFor(d);
        port.TakeStallNs();
        Assert.Equal(XenErrno.Ok, from.StartMigration(d.DomId, to, Link(100), out var m));
        // 60 pages written once, during the first round: the second round sends those 60, the third finds none.
        for (ulong g = 0; g < 60; g++) port.Touch(new Gfn(g * 7), true, ContentHandle.Synthetic(ContentClass.Compressible, g + 99));
        // The migration's bitmap is not another caller's to clean or turn off.
        var dirty = new ulong[Pages];
        Assert.Equal(XenErrno.EBUSY, from.DomCtl.LogDirtyOp(d.DomId, global::Memvisor.Hypervisor.Mmu.LogDirty.LogDirtyOperation.Clean, dirty, out _));
        Assert.Equal(XenErrno.EBUSY, from.DomCtl.LogDirtyOp(d.DomId, global::Memvisor.Hypervisor.Mmu.LogDirty.LogDirtyOperation.Off, dirty, out _));
        Assert.Equal(XenErrno.Ok, from.DomCtl.LogDirtyOp(d.DomId, global::Memvisor.Hypervisor.Mmu.LogDirty.LogDirtyOperation.Peek, dirty, out int peeked));
        Assert.Equal(60, peeked);
        while (m!.Phase == MigrationPhase.PreCopy) m.Step(StepNs);
        Assert.Equal([Pages, 60L], m.Stats.PagesPerRound);
        Assert.Equal(0, m.Stats.StopAndCopyPages);
        Assert.True(port.TakeStallNs() >= m.Stats.DowntimeNs, "the guest was not charged its downtime");
        Assert.False(m.Destination.Incoming);
    }

    [Fact]
    public void The_destination_is_left_alone_by_the_sharing_scanner_while_it_fills()
    {
        using var host = new Host(new MachineMemory(16384, 1), new CostModel(), () => 0,
            new OvercommitOptions { Sharing = new global::Memvisor.Hypervisor.Sharing.SharingOptions { Enabled = true, ScanRatePagesPerSecond = 1e6 } });
        Assert.Equal(XenErrno.Ok, host.CreateDomain(new global::Memvisor.Hypervisor.Domains.DomainConfig { Name = "web", MemoryPages = Pages, MaxPages = Pages, Sharing = true }, out var d));
        // Pages of their own, so the source stays the scanner's to scan.
        for (ulong g = 0; g < Pages; g++) host.PortFor(d!).Touch(new Gfn(g), true, ContentHandle.Synthetic(ContentClass.Incompressible, g + 1));
        Assert.Equal(XenErrno.Ok, host.StartMigration(d!.DomId, host, Link(1), out var m));
        // Ten passes of the scanner (one per step at most), each of which would meet the destination's claimed zero frames.
        for (int i = 0; i < 10; i++) host.Step(100_000_000);
        Assert.Equal(0, m!.Destination.P2m.SharedEntries);
        Assert.Equal(Pages, m.Destination.TotPages);
        Assert.True(host.Sharing.Stats.PagesScanned >= 5 * Pages, $"the scanner looked at only {host.Sharing.Stats.PagesScanned} pages");
    }

    [Fact]
    public void Frontswap_pages_go_with_the_guest_its_puts_are_refused_while_it_migrates_and_a_host_without_tmem_is_refused()
    {
        Host TmemHost(bool enabled) => new(new MachineMemory(16384, 1), new CostModel(), () => 0,
            new OvercommitOptions { Tmem = new global::Memvisor.Hypervisor.Tmem.TmemOptions { Enabled = enabled, ReservePages = 64 } });
        using var from = TmemHost(true);
        using var to = TmemHost(true);
        using var without = TmemHost(false);
        var d = TestHost.Domain(from, "fs", Pages, Pages);
        var port = from.PortFor(d);
        int cleancache = port.TmemNewPool(persistent: false), frontswap = port.TmemNewPool(persistent: true);
        for (ulong g = 0; g < 8; g++)
        {
            port.Touch(new Gfn(g), true, ContentHandle.Synthetic(ContentClass.Compressible, g + 5));
            Assert.True(port.TmemPut(frontswap, 0, (uint)g, new Gfn(g)));
            Assert.True(port.TmemPut(cleancache, 3, (uint)g, new Gfn(g)));
        }
        Assert.Equal(XenErrno.EOPNOTSUPP, from.StartMigration(d.DomId, without, Link(100), out _));
        Assert.Equal(XenErrno.Ok, from.StartMigration(d.DomId, to, Link(100), out var m));
        Assert.Equal(8, m!.Stats.TmemPages);
        // Frozen: a put is refused (the guest keeps the page); a get takes its page out, and the destination will not have it.
        Assert.False(port.TmemPut(frontswap, 0, 100, new Gfn(20)));
        Assert.True(port.TmemGet(frontswap, 0, 7, new Gfn(30)));
        while (m.Phase == MigrationPhase.PreCopy) m.Step(StepNs);
        Assert.Equal(MigrationPhase.Done, m.Phase);
        Assert.Equal(m.Destination.DomId, port.DomId);
        // The pools keep their ids; the persistent one has its 7 pages, the ephemeral one came empty.
        var page = new byte[PageSize.Bytes];
        var expected = new byte[PageSize.Bytes];
        for (uint i = 0; i < 7; i++)
        {
            Assert.True(port.TmemPeek(frontswap, 0, i, page), $"frontswap page {i} did not arrive");
            from.Machine.Contents.Read(ContentHandle.Synthetic(ContentClass.Compressible, i + 5), expected);
            Assert.True(page.AsSpan().SequenceEqual(expected), $"frontswap page {i} arrived with other bytes");
        }
        Assert.False(port.TmemPeek(frontswap, 0, 7, page));
        Assert.False(port.TmemPeek(cleancache, 3, 0, page));
        // Thawed on the destination: a put goes in again.
        Assert.True(port.TmemPut(frontswap, 0, 100, new Gfn(20)));
        Assert.Empty(Auditor.Check(from));
        Assert.Empty(Auditor.Check(to));
    }

    [Fact]
    public void Changes_a_guest_does_not_write_are_logged_dirty_too()
    {
        using var hv = new Host(new MachineMemory(16384, 1), new CostModel(), () => 0,
            new OvercommitOptions { Tmem = new global::Memvisor.Hypervisor.Tmem.TmemOptions { Enabled = true, ReservePages = 64 } });
        var a = TestHost.Domain(hv, "a", 64, 96);
        var b = TestHost.Domain(hv, "b", 64, 96);
        var pa = hv.PortFor(a);
        int pool = pa.TmemNewPool(persistent: true);
        pa.Touch(new Gfn(3), true, ContentHandle.Synthetic(ContentClass.Compressible, 1));
        Assert.True(pa.TmemPut(pool, 0, 0, new Gfn(3)));
        Assert.Equal(XenErrno.Ok, hv.Grants.SetupTable(b.DomId, 1));
        Assert.Equal(XenErrno.Ok, hv.Grants.AcceptTransfer(b.DomId, 0, a.DomId, 80));
        var dirty = new ulong[96];
        Assert.Equal(XenErrno.Ok, hv.DomCtl.LogDirtyOp(a.DomId, global::Memvisor.Hypervisor.Mmu.LogDirty.LogDirtyOperation.Enable, dirty, out _));
        Assert.True(pa.TmemGet(pool, 0, 0, new Gfn(4)));                       // tmem fills gfn 4
        Assert.Equal(XenErrno.Ok, pa.DecreaseReservation([10UL], 0));          // gfn 10 given back
        Assert.Equal(XenErrno.Ok, pa.PopulatePhysmap([70UL], 0));              // gfn 70 populated
        Assert.Equal(XenErrno.Ok, pa.PopulatePhysmap([71UL], 0, onDemand: true)); // gfn 71 populate-on-demand
        Assert.Equal(XenErrno.Ok, hv.Grants.Transfer(a.DomId, 20, b.DomId, 0)); // gfn 20 given to b
        Assert.Equal(XenErrno.Ok, hv.DomCtl.LogDirtyOp(a.DomId, global::Memvisor.Hypervisor.Mmu.LogDirty.LogDirtyOperation.Peek, dirty, out int n));
        Assert.Equal([4UL, 10, 20, 70, 71], dirty[..n]);
    }

    [Fact]
    public void A_pv_guest_s_page_tables_arrive_as_gfns_and_name_the_destination_s_frames_there()
    {
        var g = new global::Memvisor.Tests.Hypervisor.Mmu.MmuTestGuest(global::Memvisor.Hypervisor.Mmu.MmuMode.Pv, pages: 512);
        using var to = NewHost();
        ulong root = g.NewTable();
        for (ulong i = 0; i < 20; i++) g.Map(root, 0x4000 + i, g.FirstDataGfn + i);
        Assert.True(g.Mmu.SwitchAddressSpace(root, 1));
        Assert.Equal(XenErrno.Ok, g.Hv.StartMigration(g.Domain.DomId, to, Link(1), out var m));
        // The guest keeps changing its tables (mmu_update) while the pre-copy runs.
        for (ulong i = 20; m!.Phase == MigrationPhase.PreCopy; i++)
        {
            if (i < 60) g.Map(root, 0x4000 + i, g.FirstDataGfn + i);
            Assert.Equal(TranslateStatus.Ok, g.Mmu.Translate(new Vpn(0x4000 + Math.Min(i, 59)), write: true).Status);
            m.Step(StepNs);
        }
        Assert.Equal(MigrationPhase.Done, m.Phase);
        Assert.True(m.Stats.StopAndCopyPages > 0, "the tables changed during the pre-copy were not sent again");
        for (ulong i = 0; i < 60; i++)
        {
            var t = g.Mmu.Translate(new Vpn(0x4000 + i), write: false);
            Assert.Equal(TranslateStatus.Ok, t.Status);
            Assert.Equal(g.FirstDataGfn + i, t.Gfn.Value);
        }
        Assert.False(m.Destination.IsCrashed);
        Assert.Empty(Auditor.Check(to));
    }
}
