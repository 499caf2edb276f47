using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;

namespace Memvisor.Machine.Scrub;

/// <summary>
/// Zeroes frames that were freed with a previous owner's bytes in them, as Xen's idle-loop scrubber does
/// (page_alloc.c scrub_free_pages): freed ranges are queued, and each idle step zeroes up to a budget of frames.
/// A frame that is allocated before the scrubber reaches it is scrubbed at allocation instead (see MachineMemory).
/// </summary>
public sealed class Scrubber(FrameTable frames, ContentStore contents)
{
    // Pending ranges in freeing order; _head is the one being scrubbed, _cursor the position in it.
    private readonly List<(uint First, uint Count)> _ranges = [];
    private int _head;
    private uint _cursor;

    /// <summary>Frames free in the heap and still holding a previous owner's bytes.</summary>
    public long PendingFrames { get; private set; }
    public long ScrubbedIdle { get; private set; }
    public long ScrubbedOnAllocation { get; private set; }

    /// <summary>Marks a frame being freed: scrub-pending if it holds anything but zeros.</summary>
    public void MarkFreed(ref FrameInfo frame, uint mfn)
    {
        if (frame.Content.IsZero)
        {
            frame.Flags &= ~FrameFlags.ScrubPending;
            return;
        }
        if ((frame.Flags & FrameFlags.ScrubPending) == 0)
        {
            frame.Flags |= FrameFlags.ScrubPending;
            PendingFrames++;
        }
        Enqueue(mfn);
    }

    /// <summary>Scrubs a frame that is being handed out before the idle scrubber reached it.</summary>
    public void ScrubForAllocation(ref FrameInfo frame)
    {
        if ((frame.Flags & FrameFlags.ScrubPending) == 0) return;
        Zero(ref frame);
        ScrubbedOnAllocation++;
    }

    /// <summary>One idle step: zeroes at most <paramref name="budget"/> pending frames; returns how many it zeroed.</summary>
    public long Step(long budget)
    {
        long done = 0;
        while (done < budget && TryPeek(out var range))
        {
            while (_cursor < range.Count && done < budget)
            {
                ref var f = ref frames[range.First + _cursor];
                _cursor++;
                if ((f.Flags & (FrameFlags.ScrubPending | FrameFlags.Free)) == (FrameFlags.ScrubPending | FrameFlags.Free))
                {
                    Zero(ref f);
                    ScrubbedIdle++;
                    done++;
                }
            }
            if (_cursor >= range.Count) Dequeue();
        }
        return done;
    }

    private void Zero(ref FrameInfo frame)
    {
        contents.Release(frame.Content);
        frame.Content = ContentHandle.Zero;
        frame.Flags &= ~FrameFlags.ScrubPending;
        PendingFrames--;
    }

    // Ranges are coalesced when frames are freed in ascending runs, so a dying domain queues few entries.
    private void Enqueue(uint mfn)
    {
        int last = _ranges.Count - 1;
        if (last >= _head && _ranges[last].First + _ranges[last].Count == mfn)
        {
            _ranges[last] = (_ranges[last].First, _ranges[last].Count + 1);
            return;
        }
        _ranges.Add((mfn, 1));
    }

    private bool TryPeek(out (uint First, uint Count) range)
    {
        if (_head < _ranges.Count)
        {
            range = _ranges[_head];
            return true;
        }
        range = default;
        return false;
    }

    private void Dequeue()
    {
        _cursor = 0;
        _head++;
        if (_head == _ranges.Count)
        {
            _ranges.Clear();
            _head = 0;
        }
        else if (_head > 4096 && _head > _ranges.Count / 2)
        {
            _ranges.RemoveRange(0, _head);
            _head = 0;
        }
    }
}
