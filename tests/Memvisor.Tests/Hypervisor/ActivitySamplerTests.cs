using Memvisor.Seam;
using Memvisor.Hypervisor;
using Memvisor.Hypervisor.WorkingSet;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Time;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor;

/// <summary>ESX's sampled working-set estimate: what a guest touches, seen from the hypervisor.</summary>
public class ActivitySamplerTests
{
    [Fact]
    public void A_guest_touching_a_quarter_of_its_pages_is_estimated_near_a_quarter_and_an_idle_one_near_none()
    {
        var options = new OvercommitOptions { Activity = new ActivityOptions { SampleSize = 200, PeriodNs = 1000 } };
        using var hv = new Host(new MachineMemory(16_384, 1), new CostModel(), () => 0, options);
        var busy = TestHost.Domain(hv, "busy", 4096, 4096);
        var idle = TestHost.Domain(hv, "idle", 4096, 4096);
        var port = hv.PortFor(busy);
        Assert.Equal(1.0, busy.Activity.ActiveShare); // presumed active before any period has ended
        hv.Step(1000); // the first sample is drawn
        for (int period = 0; period < 12; period++)
        {
            for (ulong g = 0; g < 1024; g++) port.Touch(new Gfn(g), write: false, ContentHandle.Zero);
            hv.Step(1000);
        }
        Assert.InRange(busy.Activity.Fast, 0.15, 0.35);
        Assert.InRange(busy.Activity.ActiveShare, 0.15, 0.4);
        Assert.InRange(idle.Activity.ActiveShare, 0.0, 0.05);
    }
}
