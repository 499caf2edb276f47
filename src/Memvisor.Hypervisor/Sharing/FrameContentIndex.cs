using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;

namespace Memvisor.Hypervisor.Sharing;

/// <summary>
/// Frames indexed by the hash of their bytes, for finding a frame that holds given bytes: the sharing scanner's
/// stable tree and tmem's deduplication. The chains are <see cref="HashChains"/> over mfns; this view confirms every
/// hit by a full compare of the frame's bytes and skips frames shared by too many.
/// </summary>
internal sealed class FrameContentIndex(MachineMemory machine)
{
    public const uint None = uint.MaxValue;

    private readonly HashChains _chains = new((int)Math.Min(machine.TotalFrames, int.MaxValue));
    private readonly byte[] _scratch = new byte[PageSize.Bytes];

    public int Count => _chains.Count;

    public bool Contains(uint mfn) => _chains.Contains((int)mfn);

    /// <summary>A frame with this hash whose bytes equal <paramref name="page"/> and whose reference count is below <paramref name="maxRefs"/>; <see cref="None"/> if there is none.</summary>
    public uint Find(ulong hash, ReadOnlySpan<byte> page, int maxRefs)
    {
        for (int m = _chains.First(hash); m != HashChains.None; m = _chains.Next(m))
        {
            uint mfn = (uint)m;
            if (machine.Frames[mfn].RefCount >= maxRefs) continue;
            if (machine.View(mfn, _scratch).SequenceEqual(page)) return mfn;
        }
        return None;
    }

    /// <summary>
    /// As <see cref="Find(ulong, ReadOnlySpan{byte}, int)"/> for the bytes named by <paramref name="content"/>: a
    /// candidate with the same handle, unless private, holds the same bytes (synthetic bytes are a function of the
    /// handle, stored bytes never change under their id, the zero page is the zero page); any other is
    /// compared byte for byte, the bytes generated into <paramref name="page"/> the first time they are needed.
    /// </summary>
    public uint Find(ulong hash, ContentHandle content, Span<byte> page, ref bool generated, int maxRefs)
    {
        for (int m = _chains.First(hash); m != HashChains.None; m = _chains.Next(m))
        {
            uint mfn = (uint)m;
            if (machine.Frames[mfn].RefCount >= maxRefs) continue;
            if (!content.IsPrivate && machine.Frames[mfn].Content == content) return mfn;
            if (!generated)
            {
                machine.Contents.Read(content, page);
                generated = true;
            }
            if (machine.View(mfn, _scratch).SequenceEqual(page)) return mfn;
        }
        return None;
    }

    public void Add(uint mfn, ulong hash) => _chains.Add((int)mfn, hash);

    public void Remove(uint mfn) => _chains.Remove((int)mfn);
}
