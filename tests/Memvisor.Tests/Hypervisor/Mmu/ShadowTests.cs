using Memvisor.Hypervisor.Mmu;
using Memvisor.Seam;

namespace Memvisor.Tests.Hypervisor.Mmu;

/// <summary>Shadow-2 and Shadow-3: trips into the hypervisor per demand fault, unsync and resync.</summary>
public class ShadowTests
{
    // A Windows-style demand fault at vpn: the access faults, the handler writes a transition entry, then the real
    // one (accessed and dirty set, as Windows makes it valid for the faulting access), and the access is retried.
    private static void DemandFault(MmuTestGuest g, ulong root, ulong vpn, ulong gfn)
    {
        var t = g.Mmu.Translate(new Vpn(vpn), write: true);
        Assert.Equal(TranslateStatus.PageFault, t.Status);
        const ulong Transition = 1UL << 11; // software bit: not present, in transition
        g.Mmu.WriteEntry(t.Table.Value, t.Index, X86Pte.Make(gfn, Transition));
        g.Mmu.WriteEntry(t.Table.Value, t.Index, X86Pte.Make(gfn, MmuTestGuest.Flags | X86Pte.Accessed | X86Pte.Dirty));
        var again = g.Mmu.Translate(new Vpn(vpn), write: true);
        Assert.Equal(TranslateStatus.Ok, again.Status);
        Assert.Equal(gfn, again.Gfn.Value);
    }

    private static (MmuTestGuest G, ulong Root) Prepared(MmuMode mode)
    {
        var g = new MmuTestGuest(mode);
        ulong root = g.NewTable();
        g.Map(root, 0x4000, g.FirstDataGfn); // builds the tables down to the L1 of the region used below
        g.Mmu.SwitchAddressSpace(root, 1);
        g.Mmu.Translate(new Vpn(0x4000), write: false); // shadows the path
        return (g, root);
    }

    [Fact]
    public void Shadow2_takes_three_trips_per_demand_fault_fault_and_two_emulated_writes()
    {
        var (g, root) = Prepared(MmuMode.Shadow2);
        long before = g.Mmu.Stats.HypervisorTrips;
        for (ulong i = 1; i <= 100; i++) DemandFault(g, root, 0x4000 + i, g.FirstDataGfn + i);
        Assert.Equal(300, g.Mmu.Stats.HypervisorTrips - before);
        Assert.Equal(200, g.Mmu.Stats.EmulatedWrites);
        Assert.Equal(0, g.Mmu.Stats.Resyncs);
    }

    [Fact]
    public void Shadow3_takes_two_trips_per_demand_fault_once_the_L1_is_out_of_sync()
    {
        var (g, root) = Prepared(MmuMode.Shadow3);
        long before = g.Mmu.Stats.HypervisorTrips;
        for (ulong i = 1; i <= 100; i++) DemandFault(g, root, 0x4000 + i, g.FirstDataGfn + i);
        // The first write unsyncs the L1 (one trip); then each fault costs the fault and the pull-through.
        Assert.Equal(1, g.Mmu.Stats.Unsynced);
        Assert.Equal(1 + 200, g.Mmu.Stats.HypervisorTrips - before);
        Assert.Equal(0, g.Mmu.Stats.EmulatedWrites);
        Assert.Equal(100, g.Mmu.Stats.PulledThrough - 1);
    }

    [Fact]
    public void Shadow3_resyncs_at_a_CR3_switch_and_past_the_out_of_sync_limit()
    {
        var (g, root) = Prepared(MmuMode.Shadow3);
        // Four L1 tables (four 2 MiB regions), each written once: the fourth unsync passes the limit of 3.
        for (ulong r = 1; r <= 4; r++)
        {
            g.Map(root, r * 512, g.FirstDataGfn + r);
            g.Mmu.Translate(new Vpn(r * 512), write: false);
        }
        var s = (Memvisor.Hypervisor.Mmu.Shadow.ShadowMmu)g.Mmu;
        long resyncs = g.Mmu.Stats.Resyncs;
        for (ulong r = 1; r <= 4; r++) g.Mmu.WriteEntry(g.Walk(root, r * 512).Table, 1, X86Pte.Make(g.FirstDataGfn + 10 + r, MmuTestGuest.Flags));
        Assert.Equal(4, g.Mmu.Stats.Unsynced);
        Assert.Equal(resyncs + 1, g.Mmu.Stats.Resyncs);
        Assert.Equal(3, s.OutOfSyncCount);

        g.Mmu.SwitchAddressSpace(root, 1);
        Assert.Equal(0, s.OutOfSyncCount);
        Assert.Equal(resyncs + 4, g.Mmu.Stats.Resyncs);
        // After the resync the new entries are in the shadows' view: an access finds them (after its pull-through).
        for (ulong r = 1; r <= 4; r++) Assert.Equal(g.FirstDataGfn + 10 + r, g.Mmu.Translate(new Vpn(r * 512 + 1), write: false).Gfn.Value);
    }

    [Fact]
    public void A_table_nothing_links_to_any_more_loses_its_shadow()
    {
        var (g, root) = Prepared(MmuMode.Shadow2);
        var s = (Memvisor.Hypervisor.Mmu.Shadow.ShadowMmu)g.Mmu;
        int shadows = s.ShadowCount;
        var (_, l1, _, _) = g.Walk(root, 0x4000);
        // Clear the L2 entry that points at the L1 (as munmap of the whole region does) and flush.
        ulong l2Table = WalkTo(g, root, 0x4000, 2);
        g.Mmu.WriteEntry(l2Table, X86Pte.IndexAt(0x4000, 2), 0);
        g.Mmu.FlushTlb();
        Assert.Equal(shadows - 1, s.ShadowCount);
        Assert.Equal(1, g.Mmu.Stats.ShadowsRemoved);
        // The L1 page is no longer write-protected: writing it does not trap.
        long trips = g.Mmu.Stats.HypervisorTrips;
        g.Mmu.WriteEntry(l1, 0, 0);
        Assert.Equal(trips, g.Mmu.Stats.HypervisorTrips);
    }

    private static ulong WalkTo(MmuTestGuest g, ulong root, ulong vpn, int level)
    {
        ulong table = root;
        for (int l = 4; l > level; l--) table = X86Pte.Frame(g.Mmu.ReadEntry(table, X86Pte.IndexAt(vpn, l)));
        return table;
    }
}
