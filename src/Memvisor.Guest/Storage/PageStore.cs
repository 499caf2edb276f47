using Memvisor.Seam;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;

namespace Memvisor.Guest.Storage;

/// <summary>
/// The blocks of a modeled disk (a swap device or a file), one page each. A page whose bytes are generated keeps
/// just its content handle, as the disk holds exactly those bytes; a page with real bytes keeps a copy of them.
/// Pages move between the store and guest frames the way DMA would move them, through the memory seam.
/// </summary>
public sealed class PageStore(Func<long, ContentHandle> initial)
{
    private readonly Dictionary<long, ulong> _handles = [];
    private readonly Dictionary<long, byte[]> _bytes = [];

    /// <summary>Copies the page at <paramref name="gfn"/> into block <paramref name="block"/>.</summary>
    public bool Save(IGuestPhysicalMemory memory, ulong gfn, long block)
    {
        if (memory.TryReadSynthetic(new Gfn(gfn), out var content))
        {
            _bytes.Remove(block);
            _handles[block] = content.Raw;
            return true;
        }
        var copy = new byte[PageSize.Bytes];
        if (!memory.ReadPage(new Gfn(gfn), copy)) return false;
        _handles.Remove(block);
        _bytes[block] = copy;
        return true;
    }

    /// <summary>Copies block <paramref name="block"/> into the page at <paramref name="gfn"/>.</summary>
    public bool Load(IGuestPhysicalMemory memory, ulong gfn, long block)
    {
        if (_bytes.TryGetValue(block, out var bytes)) return memory.WritePage(new Gfn(gfn), bytes);
        return memory.Touch(new Gfn(gfn), write: true, ContentOf(block)) != AccessOutcome.Refused;
    }

    /// <summary>The content of a block held as a handle (the initial content if it was never written); for blocks holding real bytes, the bytes are in <see cref="Read"/>.</summary>
    public ContentHandle ContentOf(long block) => _handles.TryGetValue(block, out ulong raw) ? new ContentHandle(raw) : initial(block);

    /// <summary>The bytes of a block.</summary>
    public void Read(long block, Span<byte> page)
    {
        if (_bytes.TryGetValue(block, out var bytes)) bytes.CopyTo(page);
        else Fill(ContentOf(block), page);
    }

    /// <summary>What a block held before anything was written to it.</summary>
    public ContentHandle Initial(long block) => initial(block);

    /// <summary>Forgets a block's content (a freed swap slot).</summary>
    public void Discard(long block)
    {
        _handles.Remove(block);
        _bytes.Remove(block);
    }

    private static void Fill(ContentHandle h, Span<byte> page)
    {
        if (h.IsZero) page[..PageSize.Bytes].Clear();
        else ContentGenerator.Fill(h.SyntheticClass, h.Seed, page[..PageSize.Bytes]);
    }
}
