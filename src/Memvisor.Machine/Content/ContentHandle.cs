namespace Memvisor.Machine.Content;

/// <summary>
/// A compact 8-byte name for a page's bytes: the zero page, a synthetic page (class and 56-bit seed, whose bytes
/// are generated on demand), a page held in the <see cref="ContentStore"/> (by id), or a private page: a mutable
/// buffer that one frame owns, for bytes that change a word at a time (page tables). Decisions about contents
/// are made from the bytes this names, never from the handle itself.
/// </summary>
public readonly record struct ContentHandle(ulong Raw)
{
    private const int KindShift = 60;
    private const int ClassShift = 56;
    private const ulong PayloadMask = (1UL << ClassShift) - 1;
    private const ulong SyntheticKind = 1;
    private const ulong StoredKind = 2;
    private const ulong PrivateKind = 3;

    public static readonly ContentHandle Zero = new(0);

    public bool IsZero => Raw == 0;
    public bool IsSynthetic => Raw >> KindShift == SyntheticKind;
    public bool IsStored => Raw >> KindShift == StoredKind;
    public bool IsPrivate => Raw >> KindShift == PrivateKind;

    public ContentClass SyntheticClass => (ContentClass)((Raw >> ClassShift) & 0xF);
    public ulong Seed => Raw & PayloadMask;
    public int StoredId => (int)(Raw & PayloadMask);
    public int PrivateId => (int)(Raw & PayloadMask);

    public static ContentHandle Synthetic(ContentClass cls, ulong seed) =>
        cls == ContentClass.Zero ? Zero : new((SyntheticKind << KindShift) | ((ulong)cls << ClassShift) | (seed & PayloadMask));

    /// <summary>Page <paramref name="pageIndex"/> of image <paramref name="imageId"/> (an OS image or a library build): the same for every guest that maps it.</summary>
    public static ContentHandle ImagePage(ContentClass cls, uint imageId, uint pageIndex) =>
        Synthetic(cls, ((ulong)(imageId & 0xFFFFFF) << 32) | pageIndex);

    public static ContentHandle Stored(int id) => new((StoredKind << KindShift) | (uint)id);
    public static ContentHandle Private(int id) => new((PrivateKind << KindShift) | (uint)id);

    public override string ToString() =>
        IsZero ? "zero" : IsStored ? $"stored#{StoredId}" : IsPrivate ? $"private#{PrivateId}" : $"{SyntheticClass}:{Seed:x}";
}
