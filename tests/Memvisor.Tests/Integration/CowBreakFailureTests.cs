using Memvisor.Guest.Mm;
using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Machine.Frames;

namespace Memvisor.Tests.Integration;

/// <summary>A write to a shared page when the host has no frame to break the sharing with: refused and counted, and the guest's data stays what it was.</summary>
public class CowBreakFailureTests
{
    [Fact]
    public void A_write_refused_for_want_of_a_frame_is_not_taken_for_written()
    {
        var overcommit = new OvercommitOptions { Sharing = new SharingOptions { Enabled = true, UseZeroPages = true } };
        var (hv, k) = GuestOnHost.Boot(4096, 0, overcommit: overcommit);
        var p = k.Spawn("t")!;
        ulong a = k.MapAnonymous(p, 64), vpn = a >> PageSize.Shift;
        for (ulong i = 0; i < 64; i++) Assert.True(k.Access(p, a + (i << PageSize.Shift), write: false));
        var d = hv.Domains.Single(x => x.Name == "g");
        for (ulong i = 0; i < 64; i++)
        {
            ulong gfn = Pte.Frame(k.Tables.Walk(p.Root, vpn + i, out _, out _, out _));
            hv.Sharing.ScanGfn(d, gfn);
        }
        Assert.True(hv.Sharing.Stats.ZeroPages >= 64, $"{hv.Sharing.Stats.ZeroPages} zero pages merged");
        // Every free frame taken: the next copy-on-write break has none.
        while (hv.Machine.TryAllocate(0, 0, 0, out _)) { }
        long failedBefore = k.Stats.FailedAccesses;
        Assert.True(k.Access(p, a + (5UL << PageSize.Shift), write: true));
        Assert.Equal(failedBefore + 1, k.Stats.FailedAccesses);
        Assert.True(hv.Sharing.Stats.CowBreakFailures > 0);
        // The page still reads as the zeros it holds, and the checker agrees: the refused write was not recorded.
        Assert.True(k.Access(p, a + (5UL << PageSize.Shift), write: false));
        Assert.Equal(0, k.Integrity!.VerifyAll());
        Assert.Equal(0, k.Integrity.Violations);
    }
}
