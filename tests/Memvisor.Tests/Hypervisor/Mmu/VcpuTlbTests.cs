using Memvisor.Hypervisor.Mmu.Tlb;

namespace Memvisor.Tests.Hypervisor.Mmu;

/// <summary>The vCPU TLB's 2 MiB entries: one entry answers for the 512 pages of a huge page, and goes with any of them.</summary>
public class VcpuTlbTests
{
    [Fact]
    public void One_2MiB_entry_translates_every_page_of_its_region_and_an_invlpg_of_any_of_them_drops_it()
    {
        var tlb = new VcpuTlb(2048, tagged: true, walkCaches: true);
        const ulong vpn = 0x7f00_0000_0UL, firstGfn = 0x40000;
        Assert.False(tlb.TryTranslate(1, vpn + 7, write: false, out _, out _));
        tlb.FillHuge(1, vpn + 7, firstGfn, writable: true, dirty: false);
        for (ulong i = 0; i < 512; i += 37)
        {
            Assert.True(tlb.TryTranslate(1, vpn + i, write: false, out ulong gfn, out bool writable));
            Assert.Equal(firstGfn + i, gfn);
            Assert.True(writable);
        }
        // Another address space, the next region, and a write before the dirty bit is set all miss.
        Assert.False(tlb.TryTranslate(2, vpn + 3, write: false, out _, out _));
        Assert.False(tlb.TryTranslate(1, vpn + 512, write: false, out _, out _));
        Assert.False(tlb.TryTranslate(1, vpn + 3, write: true, out _, out _));
        tlb.Invalidate(1, vpn + 300);
        Assert.False(tlb.TryTranslate(1, vpn + 3, write: false, out _, out _));
        tlb.FillHuge(1, vpn, firstGfn, writable: true, dirty: true);
        Assert.True(tlb.TryTranslate(1, vpn + 511, write: true, out ulong last, out _));
        Assert.Equal(firstGfn + 511, last);
        tlb.FlushAsid(1);
        Assert.False(tlb.TryTranslate(1, vpn + 511, write: false, out _, out _));
    }
}
