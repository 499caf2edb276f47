namespace Memvisor.Guest.Memory;

/// <summary>
/// The guest kernel's 16 bytes about one of its pages (Linux's struct page, cut down): use, flags, owner (a
/// process slot or a file id), index (a virtual page number or a file page offset) and LRU links.
/// </summary>
public struct PageDescriptor
{
    public const uint NoLink = uint.MaxValue;
    private const int FlagsShift = 4, OwnerShift = 12, IndexShift = 28;

    private ulong _packed;
    public uint Prev;
    public uint Next;

    public PageUse Use
    {
        readonly get => (PageUse)(_packed & 0xF);
        set => _packed = (_packed & ~0xFUL) | (byte)value;
    }

    public PageFlags Flags
    {
        readonly get => (PageFlags)((_packed >> FlagsShift) & 0xFF);
        set => _packed = (_packed & ~(0xFFUL << FlagsShift)) | ((ulong)value << FlagsShift);
    }

    /// <summary>Process slot (anonymous and page-table pages) or file id (page-cache pages).</summary>
    public readonly int Owner => (int)((_packed >> OwnerShift) & 0xFFFF);

    /// <summary>Virtual page number (anonymous pages) or page offset in the file (page-cache pages); 36 bits.</summary>
    public readonly ulong Index => _packed >> IndexShift;

    public readonly bool Has(PageFlags f) => (Flags & f) != 0;

    /// <summary>Gives the page a new use, owner and index, with no flags and no links.</summary>
    public void Assign(PageUse use, int owner, ulong index)
    {
        _packed = (byte)use | ((ulong)(ushort)owner << OwnerShift) | (index << IndexShift);
        Prev = Next = NoLink;
    }
}
