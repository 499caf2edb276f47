using Memvisor.Hypervisor.Mmu;
using Memvisor.Seam;

namespace Memvisor.Tests.Hypervisor.Mmu;

/// <summary>Nested paging: references per two-dimensional walk, and what large pages and walk caches take off.</summary>
public class HapTests
{
    private static MmuTestGuest Guest(bool caches, bool nestedSuperpages) =>
        new(MmuMode.Hap, pages: 8192, o => o with { WalkCaches = caches, NestedSuperpages = nestedSuperpages });

    [Fact]
    public void A_four_by_four_level_walk_without_caches_reads_24_entries()
    {
        var g = Guest(caches: false, nestedSuperpages: false);
        ulong root = g.NewTable();
        g.Map(root, 0x1234, g.FirstDataGfn + 7);
        g.Mmu.SwitchAddressSpace(root, 1);

        var t = g.Mmu.Translate(new Vpn(0x1234), write: false);

        Assert.Equal(TranslateStatus.Ok, t.Status);
        Assert.Equal(g.FirstDataGfn + 7, t.Gfn.Value);
        Assert.Equal(24, g.Mmu.Stats.WalkRefsMax);
        // A second access hits the TLB and walks nothing.
        Assert.Equal(TranslateStatus.Ok, g.Mmu.Translate(new Vpn(0x1234), write: false).Status);
        Assert.Equal(1, g.Mmu.Stats.Walks);
        Assert.Equal(1, g.Mmu.Tlb.Hits);
    }

    [Fact]
    public void Two_MiB_pages_in_either_dimension_take_a_level_off()
    {
        // Nested 2 MiB pages: every guest-physical region here is one aligned machine extent.
        var nested = Guest(caches: false, nestedSuperpages: true);
        Assert.True(nested.Domain.P2m.IsSuperpage(0) && nested.Domain.P2m.IsSuperpage(nested.FirstDataGfn), "the test host backs the domain with 2 MiB extents");
        ulong root = nested.NewTable();
        nested.Map(root, 0x1234, nested.FirstDataGfn + 7);
        nested.Mmu.SwitchAddressSpace(root, 1);
        nested.Mmu.Translate(new Vpn(0x1234), write: false);
        Assert.Equal(4 * (3 + 1) + 3, nested.Mmu.Stats.WalkRefsMax);

        // A guest 2 MiB page (a PS entry at level 2): three guest levels.
        var guest = Guest(caches: false, nestedSuperpages: false);
        root = guest.NewTable();
        ulong l2 = guest.EnsureTable(root, 0x200, 2);
        guest.Mmu.WriteEntry(l2, X86Pte.IndexAt(0x200, 2), X86Pte.Make(guest.FirstDataGfn, MmuTestGuest.Flags | X86Pte.Huge));
        guest.Mmu.SwitchAddressSpace(root, 1);
        var t = guest.Mmu.Translate(new Vpn(0x203), write: false);
        Assert.Equal(guest.FirstDataGfn + 3, t.Gfn.Value);
        Assert.Equal(3 * (4 + 1) + 4, guest.Mmu.Stats.WalkRefsMax);
    }

    [Fact]
    public void Walk_caches_cut_a_neighbouring_miss_to_the_L1_entry_and_the_final_nested_walk()
    {
        var g = Guest(caches: true, nestedSuperpages: false);
        ulong root = g.NewTable();
        g.Map(root, 0x1000, g.FirstDataGfn);
        g.Map(root, 0x1001, g.FirstDataGfn + 600);
        g.Mmu.SwitchAddressSpace(root, 1);
        g.Mmu.Translate(new Vpn(0x1000), write: false);
        long before = g.Mmu.Stats.WalkRefsTotal;

        g.Mmu.Translate(new Vpn(0x1001), write: false);

        // PDE cache hit (the L1 table), nested TLB hit for the table's own address: 1 guest reference + 4 nested.
        Assert.Equal(5, g.Mmu.Stats.WalkRefsTotal - before);
    }

    [Fact]
    public void A_tagged_TLB_keeps_other_address_spaces_across_a_switch_and_an_untagged_one_does_not()
    {
        foreach (bool tagged in new[] { true, false })
        {
            var g = new MmuTestGuest(MmuMode.Hap, tune: o => o with { TaggedTlb = tagged });
            ulong a = g.NewTable(), b = g.NewTable();
            g.Map(a, 0x10, g.FirstDataGfn);
            g.Map(b, 0x10, g.FirstDataGfn + 1);
            g.Mmu.SwitchAddressSpace(a, 1);
            Assert.Equal(g.FirstDataGfn, g.Mmu.Translate(new Vpn(0x10), false).Gfn.Value);
            g.Mmu.SwitchAddressSpace(b, 2);
            Assert.Equal(g.FirstDataGfn + 1, g.Mmu.Translate(new Vpn(0x10), false).Gfn.Value);
            g.Mmu.SwitchAddressSpace(a, 1);
            long hits = g.Mmu.Tlb.Hits;
            Assert.Equal(g.FirstDataGfn, g.Mmu.Translate(new Vpn(0x10), false).Gfn.Value);
            Assert.Equal(tagged ? hits + 1 : hits, g.Mmu.Tlb.Hits);
            Assert.Equal(tagged ? 0 : 3, g.Mmu.Tlb.Flushes); // untagged: every switch, the first included
        }
    }

    [Fact]
    public void The_hardware_sets_accessed_and_dirty_bits_and_a_missing_entry_is_the_guests_own_fault()
    {
        var g = new MmuTestGuest(MmuMode.Hap);
        ulong root = g.NewTable();
        g.Map(root, 0x42, g.FirstDataGfn + 2);
        g.Mmu.SwitchAddressSpace(root, 1);

        Assert.Equal(TranslateStatus.Ok, g.Mmu.Translate(new Vpn(0x42), write: true).Status);
        var (e, _, _, _) = g.Walk(root, 0x42);
        Assert.Equal(X86Pte.Accessed | X86Pte.Dirty, e & (X86Pte.Accessed | X86Pte.Dirty));

        var fault = g.Mmu.Translate(new Vpn(0x43), write: false);
        Assert.Equal(TranslateStatus.PageFault, fault.Status);
        Assert.Equal(1, fault.Level);
        Assert.Equal(0, g.Mmu.Stats.HypervisorTrips);
        Assert.Equal(1, g.Mmu.Stats.DemandFaults);
    }
}
