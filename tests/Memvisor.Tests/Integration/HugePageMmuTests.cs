using Memvisor.Guest.Mm;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Machine.Frames;
using Memvisor.Seam;

namespace Memvisor.Tests.Integration;

/// <summary>A guest's transparent huge page under each HVM MMU: its accessed bit is set again after reclaim clears it and invalidates one address of it.</summary>
public class HugePageMmuTests
{
    [Theory]
    [InlineData(MmuMode.Hap)]
    [InlineData(MmuMode.Shadow3)]
    [InlineData(MmuMode.Shadow2)]
    public void A_huge_pages_accessed_bit_is_set_again_after_it_is_cleared_and_one_address_invalidated(MmuMode mode)
    {
        var (_, k) = GuestOnHost.Boot(8192, 0, configure: o => o with { TransparentHugePages = true }, mmu: mode);
        var p = k.Spawn("t")!;
        ulong a = k.MapAnonymous(p, 512), vpn = a >> PageSize.Shift;
        Assert.True(k.Access(p, a, write: true));
        Assert.True(k.Access(p, a + PageSize.Bytes, write: true));
        ulong pde = k.Tables.Walk(p.Root, vpn, out ulong directory, out int index, out int level);
        Assert.True(level == 2 && (pde & Pte.Huge) != 0 && (pde & Pte.Accessed) != 0);
        // What reclaim does to a huge page it finds referenced: the bit cleared, the first address invalidated.
        k.Tables.Write(directory, index, pde & ~Pte.Accessed);
        k.Mmu.InvalidatePage(p.Slot, new Vpn(vpn));
        Assert.True(k.Access(p, a + PageSize.Bytes, write: false));
        pde = k.Tables.Walk(p.Root, vpn, out _, out _, out _);
        Assert.True((pde & Pte.Accessed) != 0, $"{mode}: a page of the huge page was read after its accessed bit was cleared, and the bit stayed clear");
    }
}
