namespace Memvisor.Machine.Frames;

/// <summary>The frame table: one <see cref="FrameInfo"/> per machine frame, indexed by mfn (Xen's frame_table array).</summary>
public sealed class FrameTable
{
    private readonly FrameInfo[] _entries;

    public FrameTable(long frames)
    {
        if (frames <= 0 || frames > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(frames), frames, "A machine needs between 1 and 2^31 frames.");
        _entries = new FrameInfo[frames];
    }

    public long Count => _entries.LongLength;

    public ref FrameInfo this[uint mfn] => ref _entries[mfn];

    /// <summary>Bytes the table occupies (entries only).</summary>
    public long SizeInBytes => _entries.LongLength * FrameInfo.SizeInBytes;
}
