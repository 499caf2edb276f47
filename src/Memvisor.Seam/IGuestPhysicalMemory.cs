using Memvisor.Machine.Content;

namespace Memvisor.Seam;

/// <summary>
/// The guest's view of its own physical memory: touching, reading and writing the bytes of its gfns, as its vCPU
/// and its devices do. Which frame backs a gfn, and how a missing one is found, is the backend's business
/// (as vm-memory keeps GuestMemory apart from the regions behind it).
/// </summary>
public interface IGuestPhysicalMemory
{
    /// <summary>The size of the guest's physical address space in pages (gfns 0 .. this-1).</summary>
    long PhysicalPages { get; }

    /// <summary>
    /// The guest touches a page: a read, or a write that leaves the page holding <paramref name="written"/> (a
    /// synthetic content). A populate-on-demand gfn is backed on first touch.
    /// </summary>
    AccessOutcome Touch(Gfn gfn, bool write, ContentHandle written);

    /// <summary>Reads the page's bytes; false if the gfn holds no page.</summary>
    bool ReadPage(Gfn gfn, Span<byte> page);

    /// <summary>Writes real bytes to the page; false if the gfn holds no page and none could be populated.</summary>
    bool WritePage(Gfn gfn, ReadOnlySpan<byte> page);

    /// <summary>Reads 64-bit word <paramref name="index"/> (0..511) of the page, as the CPU reads a page-table entry; false if the gfn holds no page.</summary>
    bool TryReadWord(Gfn gfn, int index, out ulong value);

    /// <summary>Writes 64-bit word <paramref name="index"/> of the page, as the guest writes a page-table entry; false if the gfn holds no page.</summary>
    bool WriteWord(Gfn gfn, int index, ulong value);

    /// <summary>
    /// Reads a page the way a device's DMA would copy it when its bytes are generated: true with the page's content
    /// handle if the page is zero or synthetic; false if the gfn holds no page or holds real bytes (then use <see cref="ReadPage"/>).
    /// </summary>
    bool TryReadSynthetic(Gfn gfn, out ContentHandle content);

    /// <summary>
    /// Reads a page as <see cref="ReadPage"/> does, but leaves a zero or synthetic page's bytes ungenerated: true with
    /// its handle in <paramref name="content"/> (then <paramref name="page"/> is untouched), or with the bytes in
    /// <paramref name="page"/> and a handle that is neither; false if the gfn holds no page.
    /// </summary>
    bool ReadPageOrHandle(Gfn gfn, Span<byte> page, out ContentHandle content);
}
