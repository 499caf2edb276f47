using Memvisor.Machine.Frames;
using Memvisor.Native;
using Memvisor.Machine.Lanes;

namespace Memvisor.Machine.Content;

/// <summary>
/// Real page bytes, deduplicated: a page is stored once per distinct content (xxHash to find candidates, a full
/// byte compare to confirm) and reference counted by the frames whose handles name it. Zero pages are never
/// stored (they become <see cref="ContentHandle.Zero"/>). Private pages (mutable, one owner) are kept beside the
/// shared ones in <see cref="Private"/>. Reading any handle always yields its bytes.
/// </summary>
public sealed class ContentStore
{
    private const int SlabPages = 256;

    private readonly List<byte[]> _slabs = [];
    private int[] _refs = new int[SlabPages];
    private readonly HashChains _byHash = new();
    private readonly Stack<int> _freeIds = new();
    private int _highWater;

    /// <summary>Mutable buffers of frames whose bytes change a word at a time.</summary>
    public PrivatePages Private { get; } = new();

    /// <summary>Distinct contents held.</summary>
    public int DistinctContents { get; private set; }

    /// <summary>Stores <paramref name="page"/> (or finds its twin) and returns a handle holding one reference.</summary>
    public ContentHandle Store(ReadOnlySpan<byte> page)
    {
        Turn.Require("the content store");
        if (page.Length != PageSize.Bytes)
            throw new ArgumentException($"A page must be {PageSize.Bytes} bytes, not {page.Length}.", nameof(page));
        if (PageBytes.IsZero(page))
            return ContentHandle.Zero;

        ulong hash = XxHash.Hash64(page);
        for (int candidate = _byHash.First(hash); candidate != HashChains.None; candidate = _byHash.Next(candidate))
        {
            if (Bytes(candidate).SequenceEqual(page))
            {
                _refs[candidate]++;
                return ContentHandle.Stored(candidate);
            }
        }

        int newId = AllocateId();
        page.CopyTo(Bytes(newId));
        _refs[newId] = 1;
        _byHash.Add(newId, hash);
        DistinctContents++;
        return ContentHandle.Stored(newId);
    }

    /// <summary>Takes another reference on a stored handle; zero and synthetic handles need none, and a private page has exactly one owner.</summary>
    public void AddRef(ContentHandle handle)
    {
        if (handle.IsPrivate)
            throw new InvalidOperationException("A private page belongs to one frame; copy its bytes instead of sharing its handle.");
        if (!handle.IsStored) return;
        Turn.Require("the content store");
        _refs[handle.StoredId]++;
    }

    /// <summary>Drops a reference; the content is forgotten when the last one goes.</summary>
    public void Release(ContentHandle handle)
    {
        if (handle.IsZero || handle.IsSynthetic) return;
        Turn.Require("the content store");
        if (handle.IsPrivate)
        {
            Private.Release(handle.PrivateId);
            return;
        }
        if (!handle.IsStored) return;
        int id = handle.StoredId;
        if (--_refs[id] > 0) return;
        _byHash.Remove(id);
        DistinctContents--;
        _freeIds.Push(id);
    }

    /// <summary>Writes the bytes <paramref name="handle"/> names into <paramref name="page"/>.</summary>
    public void Read(ContentHandle handle, Span<byte> page)
    {
        if (handle.IsZero)
            page[..PageSize.Bytes].Clear();
        else if (handle.IsStored)
            Bytes(handle.StoredId).CopyTo(page);
        else if (handle.IsPrivate)
            Private.Bytes(handle.PrivateId).CopyTo(page);
        else
            ContentGenerator.Fill(handle.SyntheticClass, handle.Seed, page[..PageSize.Bytes]);
    }

    /// <summary>The bytes <paramref name="handle"/> names, without a copy when they are held; generated into <paramref name="scratch"/> otherwise.</summary>
    public ReadOnlySpan<byte> View(ContentHandle handle, Span<byte> scratch)
    {
        if (handle.IsStored) return Bytes(handle.StoredId);
        if (handle.IsPrivate) return Private.Bytes(handle.PrivateId);
        Read(handle, scratch);
        return scratch[..PageSize.Bytes];
    }

    public int ReferenceCount(ContentHandle handle) => handle.IsStored ? _refs[handle.StoredId] : handle.IsPrivate ? 1 : 0;

    private Span<byte> Bytes(int id) => _slabs[id / SlabPages].AsSpan((id % SlabPages) * PageSize.Bytes, PageSize.Bytes);

    private int AllocateId()
    {
        if (_freeIds.Count > 0) return _freeIds.Pop();
        int id = _highWater++;
        if (id / SlabPages >= _slabs.Count)
        {
            _slabs.Add(new byte[SlabPages * PageSize.Bytes]);
            int capacity = _slabs.Count * SlabPages;
            if (capacity > _refs.Length) Array.Resize(ref _refs, Math.Max(capacity, _refs.Length * 2));
        }
        return id;
    }
}
