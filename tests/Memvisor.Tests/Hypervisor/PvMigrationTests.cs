using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Migration;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Hypervisor.Mmu.Pv;
using Memvisor.Hypervisor.Paging;
using Memvisor.Machine.Time;
using Memvisor.Machine;
using Memvisor.Machine.Frames;
using Memvisor.Seam;
using Memvisor.Tests.Hypervisor.Mmu;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor;

/// <summary>PV guests whose page tables change type while they migrate (found by review probes).</summary>

public class PvMigrationTests
{
    private const long StepNs = 10_000_000;
    private static Host NewHost(long frames = 16384) => new(new MachineMemory(frames, 1), new CostModel(), () => 0,
        new OvercommitOptions { Paging = new PagingOptions { SwapPages = 2048, Configured = true } });
    private static MigrationOptions Link(double mb) => new() { BandwidthBytesPerSecond = mb * 1e6, LatencyNs = 1_000_000 };

    private static ulong _seed = 1;
    private static void Dirty(MmuTestGuest g)
    {
        var port = g.Hv.PortFor(g.Domain);
        for (int i = 0; i < 30; i++) port.Touch(new Gfn(300 + (ulong)(_seed++ % 100)), true, Memvisor.Machine.Content.ContentHandle.Synthetic(Memvisor.Machine.Content.ContentClass.Compressible, _seed));
    }

    // A page filled with entries while untyped and sent as data, then linked into an L2 (it becomes an L1) without
    // being written again: taking the type logs it dirty, so it is sent again as a table (Xen's alloc_page_type).
    [Fact]
    public void A_page_that_becomes_a_table_between_rounds_arrives_as_a_table()
    {
        var g = new MmuTestGuest(MmuMode.Pv, pages: 512);
        using var to = NewHost();
        ulong root = g.NewTable();
        for (ulong i = 0; i < 4; i++) g.Map(root, 0x4000 + i, g.FirstDataGfn + i);
        Assert.True(g.Mmu.SwitchAddressSpace(root, 1));
        ulong x = g.NewTable();
        for (int i = 0; i < 10; i++) Assert.True(g.Mmu.WriteEntry(x, i, X86Pte.Make(g.FirstDataGfn + 100 + (ulong)i, MmuTestGuest.Flags)));
        g.Mmu.Submit();
        Assert.Equal(XenErrno.Ok, g.Hv.StartMigration(g.Domain.DomId, to, Link(1), out var m));
        while (m!.Phase == MigrationPhase.PreCopy && m.Stats.Rounds < 1) { Dirty(g); m.Step(StepNs); }
        Assert.Equal(MigrationPhase.PreCopy, m.Phase);
        ulong l2 = g.EnsureTable(root, 0x8000, 2);
        Assert.True(g.Mmu.WriteEntry(l2, X86Pte.IndexAt(0x8000, 2), X86Pte.Make(x, MmuTestGuest.TableFlags)));
        g.Mmu.Submit();
        Assert.Equal(TranslateStatus.Ok, g.Mmu.Translate(new Vpn(0x8000), false).Status);
        for (int s = 0; m.Phase == MigrationPhase.PreCopy && s < 100000; s++) m.Step(StepNs);
        Assert.Equal(MigrationPhase.Done, m.Phase);
        Assert.False(m.Destination.IsCrashed, "destination crashed");
        for (ulong i = 0; i < 10; i++)
        {
            var t = g.Mmu.Translate(new Vpn(0x8000 + i), false);
            Assert.Equal(TranslateStatus.Ok, t.Status);
            Assert.Equal(g.FirstDataGfn + 100 + i, t.Gfn.Value);
        }
    }

    // A table sent as a table, then unlinked (it stops being one) and kept; the gfn it named is given back. Losing the
    // type logs it dirty, so it is sent again as data and not turned into frames on the destination.
    [Fact]
    public void A_table_that_stops_being_one_between_rounds_arrives_as_the_data_it_is()
    {
        var g = new MmuTestGuest(MmuMode.Pv, pages: 512);
        using var to = NewHost();
        ulong root = g.NewTable();
        for (ulong i = 0; i < 4; i++) g.Map(root, 0x4000 + i, g.FirstDataGfn + i);
        g.Map(root, 0x8000, g.FirstDataGfn + 200);
        Assert.True(g.Mmu.SwitchAddressSpace(root, 1));
        ulong l2 = g.EnsureTable(root, 0x8000, 2);
        ulong x = g.EnsureTable(root, 0x8000, 1);
        var before = new byte[PageSize.Bytes];
        Assert.Equal(XenErrno.Ok, g.Hv.StartMigration(g.Domain.DomId, to, Link(1), out var m));
        while (m!.Phase == MigrationPhase.PreCopy && m.Stats.Rounds < 1) { Dirty(g); m.Step(StepNs); }
        Assert.Equal(MigrationPhase.PreCopy, m.Phase);
        Assert.True(g.Mmu.WriteEntry(l2, X86Pte.IndexAt(0x8000, 2), 0));
        g.Mmu.Submit();
        Assert.Equal(0, g.Hv.Machine.Frames[g.Domain.P2m.Get(x).Mfn].TypeCount);
        // The guest gives back the page the old table named.
        Assert.Equal(XenErrno.Ok, g.Hv.MemoryOp.DecreaseReservation(g.Domain.DomId, [g.FirstDataGfn + 200], 0));
        for (int s = 0; m.Phase == MigrationPhase.PreCopy && s < 100000; s++) m.Step(StepNs);
        Assert.Equal(MigrationPhase.Done, m.Phase);
        Assert.False(m.Destination.IsCrashed, "destination crashed though its tables were all fine");
    }

    // Xen keeps a frame while a table maps it: giving it back now would leave the table naming a freed frame.
    [Fact]
    public void A_pv_guest_cannot_give_back_a_page_its_tables_still_map()
    {
        var g = new MmuTestGuest(MmuMode.Pv, pages: 512);
        ulong root = g.NewTable();
        for (ulong i = 0; i < 4; i++) g.Map(root, 0x4000 + i, g.FirstDataGfn + i);
        Assert.True(g.Mmu.SwitchAddressSpace(root, 1));
        var r = g.Hv.MemoryOp.DecreaseReservation(g.Domain.DomId, [g.FirstDataGfn + 1], 0);
        Assert.Equal(XenErrno.EBUSY, r);
        Assert.Equal(TranslateStatus.Ok, g.Mmu.Translate(new Vpn(0x4001), false).Status);
    }

    [Fact]
    public void The_auditor_recomputes_a_pv_domain_s_counts_and_finds_them_after_a_save_and_restore()
    {
        var g = new MmuTestGuest(MmuMode.Pv, pages: 512);
        ulong root = g.NewTable();
        for (ulong i = 0; i < 20; i++) g.Map(root, 0x4000 + i * 600, g.FirstDataGfn + i);
        g.Map(root, 0x4001, g.FirstDataGfn + 1);
        Assert.True(g.Mmu.SwitchAddressSpace(root, 1));
        Assert.Equal(XenErrno.Ok, ((PvMmu)g.Mmu).Pin(root, 4));
        Assert.Empty(Auditor.Check(g.Hv));
        using var image = new MemoryStream();
        Assert.Equal(XenErrno.Ok, g.Hv.SaveDomain(g.Domain.DomId, image, out var saved, out _));
        Assert.Equal(XenErrno.Ok, g.Hv.RestoreDomain(saved!, image, out var d, out _));
        Assert.Empty(Auditor.Check(g.Hv));
        // A count off by one is found: a data page's references and the root's type.
        uint data = d!.P2m.Get(g.FirstDataGfn + 1).Mfn, top = d.P2m.Get(root).Mfn;
        g.Hv.Machine.Frames[data].RefCount++;
        g.Hv.Machine.Frames[top].TypeCount++;
        var problems = Auditor.Check(g.Hv);
        Assert.Contains(problems, p => p.Contains($"mfn {data} has a reference count"));
        Assert.Contains(problems, p => p.Contains($"mfn {top} has a type count"));
    }
}
