using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Migration;
using Memvisor.Hypervisor.Tmem;
using Memvisor.Machine;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor;

/// <summary>
/// Frontswap pages of real bytes (kept by tmem in its host's content store, or compressed) cross a save and a
/// migration as bytes: a stored page's handle names only its own host's store.
/// </summary>
public class TmemMoveBytesTests
{
    private static Host TmemHost(bool dedup = false, bool compress = false) => new(new MachineMemory(16384, 1), new CostModel(), () => 0,
        new OvercommitOptions { Tmem = new TmemOptions { Enabled = true, ReservePages = 64, Dedup = dedup, Compress = compress } });

    private static byte[] Bytes(int seed)
    {
        var page = new byte[PageSize.Bytes];
        new Random(seed).NextBytes(page.AsSpan(0, 64 * (1 + seed % 8)));
        return page;
    }

    // Pages 0..7 of real bytes (half of them alike, for dedup), each written by the guest and put in its frontswap pool.
    private static int PutPages(IGuestMemory port)
    {
        int pool = port.TmemNewPool(persistent: true);
        for (uint i = 0; i < 8; i++)
        {
            Assert.True(port.WritePage(new Gfn(i), Bytes((int)(i % 4) + 1)));
            Assert.True(port.TmemPut(pool, 0, i, new Gfn(i)));
        }
        return pool;
    }

    private static void AssertPages(IGuestMemory port, int pool)
    {
        var page = new byte[PageSize.Bytes];
        for (uint i = 0; i < 8; i++)
        {
            Assert.True(port.TmemPeek(pool, 0, i, page), $"frontswap page {i} is missing");
            Assert.True(page.AsSpan().SequenceEqual(Bytes((int)(i % 4) + 1)), $"frontswap page {i} holds other bytes");
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void A_save_carries_them_as_bytes_and_the_restore_puts_them_back(bool dedup, bool compress)
    {
        using var hv = TmemHost(dedup, compress);
        var d = TestHost.Domain(hv, "fs", 256, 256);
        int pool = PutPages(hv.PortFor(d));
        using var image = new MemoryStream();
        Assert.Equal(XenErrno.Ok, hv.SaveDomain(d.DomId, image, out var saved, out var stats));
        Assert.Equal(8, stats.TmemPages);
        Assert.Equal(XenErrno.Ok, hv.RestoreDomain(saved!, image, out var back, out _));
        AssertPages(hv.PortFor(back!), pool);
        Assert.Empty(Auditor.Check(hv));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void A_migration_carries_them_as_bytes_to_a_host_whose_store_holds_other_pages(bool dedup, bool compress)
    {
        using var from = TmemHost(dedup, compress);
        using var to = TmemHost();
        // The destination's content store already holds other bytes under its first ids.
        var other = TestHost.Domain(to, "other", 64, 64);
        for (ulong g = 0; g < 8; g++) Assert.True(to.PortFor(other).WritePage(new Gfn(g), Bytes(100 + (int)g)));
        var d = TestHost.Domain(from, "fs", 256, 256);
        var port = from.PortFor(d);
        int pool = PutPages(port);
        Assert.Equal(XenErrno.Ok, from.StartMigration(d.DomId, to, new MigrationOptions { BandwidthBytesPerSecond = 1e8, LatencyNs = 1_000_000 }, out var m));
        while (m!.Phase == MigrationPhase.PreCopy) m.Step(10_000_000);
        Assert.Equal(MigrationPhase.Done, m.Phase);
        AssertPages(port, pool);
        var page = new byte[PageSize.Bytes];
        for (ulong g = 0; g < 8; g++)
        {
            Assert.True(to.PortFor(other).ReadPage(new Gfn(g), page));
            Assert.True(page.AsSpan().SequenceEqual(Bytes(100 + (int)g)), $"the other domain's page {g} changed");
        }
        Assert.Empty(Auditor.Check(from));
        Assert.Empty(Auditor.Check(to));
    }

    [Fact]
    public void A_restore_checks_for_tmems_reserve_and_leaves_the_host_as_it_was_when_short()
    {
        using var hv = new Host(new MachineMemory(4096, 1), new CostModel(), () => 0,
            new OvercommitOptions { Tmem = new TmemOptions { Enabled = true, ReservePages = 64 } });
        var d = TestHost.Domain(hv, "fs", 256, 256);
        PutPages(hv.PortFor(d));
        using var image = new MemoryStream();
        Assert.Equal(XenErrno.Ok, hv.SaveDomain(d.DomId, image, out var saved, out _));
        Assert.True(hv.RestorePagesNeeded(saved!, image, out long needed));
        // The frontswap pages, tmem's reserve and the scratch frame are in what the restore asks for.
        Assert.True(needed >= 256 + 8 + 64 + 1, $"the restore asks for {needed} frames");
        // A host with one frame fewer than that free refuses it with nothing changed.
        var taken = new List<uint>();
        while (hv.Machine.FreeFrames > needed - 1)
        {
            Assert.True(hv.Machine.TryAllocate(0, 0, DomIds.Xen, out uint mfn));
            taken.Add(mfn);
        }
        string before = TestHost.Fingerprint(hv);
        Assert.Equal(XenErrno.ENOMEM, hv.RestoreDomain(saved!, image, out _, out _));
        Assert.Equal(before, TestHost.Fingerprint(hv));
        foreach (uint mfn in taken) hv.Machine.Free(mfn, 0);
        Assert.Equal(XenErrno.Ok, hv.RestoreDomain(saved!, image, out _, out _));
        Assert.Empty(Auditor.Check(hv));
    }
}
