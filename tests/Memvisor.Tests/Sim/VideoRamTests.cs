using Memvisor.Guest.Memory;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

/// <summary>The built-in video-ram scenario, cut to 40 s: what tracking saves over polling, and what dropping it when the screen is still saves more.</summary>
public class VideoRamTests
{
    [Fact]
    public void Tracking_costs_a_fraction_of_polling_and_dropping_it_after_two_idle_seconds_saves_more()
    {
        var scenario = BuiltinScenarios.Load("video-ram") with { DurationNs = 40_000_000_000 };
        var result = new Simulation(scenario).Run();
        foreach (var name in new[] { "office", "kiosk" })
        {
            var r = result.Domains.Single(d => d.Name == name);
            var vram = r.Domain!.Vram!;
            var fb = r.Guest!.Framebuffer!;
            // The device model tracks exactly the framebuffer the guest set aside, which the guest does not use as RAM.
            Assert.Equal((fb.FirstGfn, (ulong)fb.Pages), (vram.FirstGfn, vram.Pages));
            Assert.Equal(PageUse.Kernel, r.Guest.Pages[fb.FirstGfn + 17].Use);
            // Every page drawn is returned dirty at most once per refresh, and at least once.
            Assert.InRange(vram.DirtyPagesReturned, 1, fb.PagesDrawn);
            Assert.Equal(40 * 30, vram.Refreshes);
            Assert.True(vram.TrackingNs * 50 < vram.PollingNs, $"{name}: tracking {vram.TrackingNs} ns, polling {vram.PollingNs} ns");
            Assert.True(vram.Drops >= 1 && vram.Resumes >= 1, $"{name}: {vram.Drops} drops, {vram.Resumes} resumes");
            Assert.True(vram.TrackingWithDropNs < vram.TrackingNs * 0.75, $"{name}: with drop {vram.TrackingWithDropNs} ns, tracking {vram.TrackingNs} ns");
        }
    }
}
