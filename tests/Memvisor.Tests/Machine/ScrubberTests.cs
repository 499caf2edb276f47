using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;

namespace Memvisor.Tests.Machine;

public class ScrubberTests
{
    [Fact]
    public void Freed_dirty_frames_wait_for_the_idle_scrubber_and_come_back_zero()
    {
        var m = new MachineMemory(256, 1);
        Assert.True(m.TryAllocate(3, 0, 1, out uint mfn));
        for (uint i = 0; i < 8; i++) m.SetContent(mfn + i, ContentHandle.Synthetic(ContentClass.Incompressible, i + 1));
        m.SetContent(mfn + 7, ContentHandle.Zero);
        m.Free(mfn, 3);
        Assert.Equal(256, m.FreeFrames);
        Assert.Equal(7, m.Scrubber.PendingFrames);
        Assert.Equal(3, m.Scrubber.Step(3));
        Assert.Equal(4, m.Scrubber.PendingFrames);
        Assert.Equal(4, m.Scrubber.Step(100));
        Assert.Equal(0, m.Scrubber.PendingFrames);
        for (uint i = 0; i < 8; i++) Assert.True(m.Frames[mfn + i].Content.IsZero);
        Assert.Equal(7, m.Scrubber.ScrubbedIdle);
    }

    [Fact]
    public void A_frame_allocated_before_the_scrubber_reaches_it_is_scrubbed_at_allocation()
    {
        var m = new MachineMemory(1, 1);
        Assert.True(m.TryAllocate(0, 0, 1, out uint mfn));
        m.SetContent(mfn, ContentHandle.Synthetic(ContentClass.Compressible, 42));
        m.Free(mfn, 0);
        Assert.True(m.TryAllocate(0, 0, 2, out uint again));
        Assert.Equal(mfn, again);
        var page = new byte[PageSize.Bytes];
        m.ReadFrame(again, page);
        Assert.True(page.All(b => b == 0));
        Assert.Equal(1, m.Scrubber.ScrubbedOnAllocation);
        Assert.Equal(0, m.Scrubber.PendingFrames);
        Assert.Equal(0, m.Scrubber.Step(10));
    }
}
