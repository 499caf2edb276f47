using System.Buffers.Binary;
using Memvisor.Machine.Frames;

namespace Memvisor.Guest.Images;

/// <summary>
/// An ELF64 core file of a guest's memory, as QEMU's dump-guest-memory and libvirt's virsh dump --memory-only write
/// it: each PT_LOAD segment is a run of guest-physical memory at p_paddr, all of it in the file; notes and
/// every other segment are skipped; more than 65534 segments are counted in section header 0 (PN_XNUM). Every
/// header is checked before a page is read, and the file is read in 1 MiB chunks.
/// </summary>
public sealed class ElfCoreImage : IMemoryImage
{
    private const int HeaderSize = 64, PhdrSize = 56, ShdrSize = 64;
    private const uint PtLoad = 1;
    private const ushort EtCore = 4, PnXnum = 0xFFFF;

    private readonly ChunkedReader _file;
    private readonly Segment[] _segments;
    // The reading-order index of each segment's first page, for ReadPage.
    private readonly long[] _firstPage;
    private int _segment;
    private ulong _pageInSegment;

    private readonly record struct Segment(long Offset, ulong Paddr, ulong Size)
    {
        public ulong Pages => (Size + PageSize.Bytes - 1) / PageSize.Bytes;
    }

    public ElfCoreImage(string path)
    {
        Path = path;
        _file = new ChunkedReader(path);
        try
        {
            _segments = ReadSegments(_file.Length);
        }
        catch
        {
            _file.Dispose();
            throw;
        }
        _firstPage = new long[_segments.Length];
        for (int i = 0; i < _segments.Length; i++)
        {
            var s = _segments[i];
            _firstPage[i] = Pages;
            Pages += (long)s.Pages;
            GfnLimit = Math.Max(GfnLimit, (s.Paddr + s.Size + PageSize.Bytes - 1) / PageSize.Bytes);
        }
    }

    public string Path { get; }
    public string Format => "elf";
    public long Pages { get; }
    public ulong GfnLimit { get; }
    /// <summary>The PT_LOAD segments (guest-physical runs) the image holds.</summary>
    public int Segments => _segments.Length;

    /// <summary>Whether the file starts with the ELF magic (0x7F 'E' 'L' 'F').</summary>
    public static bool HasMagic(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        using var f = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return RandomAccess.Read(f, magic, 0) == 4 && magic.SequenceEqual((ReadOnlySpan<byte>)[0x7F, (byte)'E', (byte)'L', (byte)'F']);
    }

    private Segment[] ReadSegments(long length)
    {
        Span<byte> h = stackalloc byte[HeaderSize];
        if (length < HeaderSize) throw Bad(length, $"the file is {length} bytes, shorter than an ELF64 header ({HeaderSize}).");
        _file.ReadExactly(0, h);
        if (h[0] != 0x7F || h[1] != (byte)'E' || h[2] != (byte)'L' || h[3] != (byte)'F') throw Bad(0, "the file does not start with the ELF magic.");
        if (h[4] != 2) throw Bad(4, $"EI_CLASS is {h[4]}, not 2 (ELF64); a 32-bit core cannot hold a 64-bit guest's memory map.");
        if (h[5] != 1) throw Bad(5, $"EI_DATA is {h[5]}, not 1 (little-endian).");
        ushort type = BinaryPrimitives.ReadUInt16LittleEndian(h[16..]);
        if (type != EtCore) throw Bad(16, $"e_type is {type}, not 4 (ET_CORE): this is not a core file.");
        long phoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(h[32..]);
        long shoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(h[40..]);
        ushort phentsize = BinaryPrimitives.ReadUInt16LittleEndian(h[54..]);
        long phnum = BinaryPrimitives.ReadUInt16LittleEndian(h[56..]);
        if (phentsize != PhdrSize) throw Bad(54, $"e_phentsize is {phentsize}, not {PhdrSize}.");
        if (phnum == PnXnum)
        {
            // More segments than 16 bits hold: the count is section header 0's sh_info.
            if (shoff < HeaderSize || shoff > length - ShdrSize) throw Bad(40, $"e_phnum is PN_XNUM but e_shoff ({shoff}) names no section header inside the file.");
            Span<byte> sh = stackalloc byte[ShdrSize];
            _file.ReadExactly(shoff, sh);
            phnum = BinaryPrimitives.ReadUInt32LittleEndian(sh[44..]);
        }
        if (phnum == 0) throw Bad(56, "the core has no program headers, so no memory.");
        if (phoff < HeaderSize || phoff > length || phnum > (length - phoff) / PhdrSize)
            throw Bad(32, $"the {phnum} program headers at e_phoff {phoff} run past the file's end ({length} bytes).");

        var segments = new List<Segment>();
        var ph = new byte[PhdrSize];
        for (long i = 0; i < phnum; i++)
        {
            long at = phoff + i * PhdrSize;
            _file.ReadExactly(at, ph);
            if (BinaryPrimitives.ReadUInt32LittleEndian(ph) != PtLoad) continue;
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(ph.AsSpan(8)), paddr = BinaryPrimitives.ReadUInt64LittleEndian(ph.AsSpan(24));
            ulong filesz = BinaryPrimitives.ReadUInt64LittleEndian(ph.AsSpan(32)), memsz = BinaryPrimitives.ReadUInt64LittleEndian(ph.AsSpan(40));
            if (paddr % PageSize.Bytes != 0) throw Bad(at + 24, $"segment {i}'s p_paddr 0x{paddr:x} is not page aligned.");
            // QEMU writes every byte of guest memory it dumps: a segment holds in the file all the memory it names.
            if (filesz != memsz) throw Bad(at + 32, $"segment {i}'s p_filesz ({filesz}) differs from its p_memsz ({memsz}); a memory dump holds every byte it maps.");
            if (memsz > (1UL << 52) || paddr > (1UL << 52) - memsz) throw Bad(at + 40, $"segment {i} ends beyond the 52-bit guest-physical address space.");
            if (offset > (ulong)length || filesz > (ulong)length - offset)
                throw Bad(at + 8, $"segment {i}'s bytes ({filesz} at offset {offset}) run past the file's end ({length} bytes): the file is truncated.");
            if (memsz > 0) segments.Add(new Segment((long)offset, paddr, memsz));
        }
        if (segments.Count == 0) throw Bad(phoff, "the core has no PT_LOAD segment, so no memory.");
        var byAddress = segments.OrderBy(s => s.Paddr).ToList();
        for (int i = 1; i < byAddress.Count; i++)
            if (byAddress[i].Paddr < byAddress[i - 1].Paddr + byAddress[i - 1].Size)
                throw Bad(phoff, $"two segments overlap at guest-physical 0x{byAddress[i].Paddr:x}.");
        // Each byte of a dump is one byte of guest memory: segments whose file bytes overlap would let a small file
        // claim any amount of memory, so the memory a core describes is bounded by its own size.
        var byOffset = segments.OrderBy(s => s.Offset).ToList();
        for (int i = 1; i < byOffset.Count; i++)
            if ((ulong)byOffset[i].Offset < (ulong)byOffset[i - 1].Offset + byOffset[i - 1].Size)
                throw Bad(phoff, $"two segments share file bytes at offset {byOffset[i].Offset}; in a memory dump each byte of the file is one byte of guest memory.");
        return [.. segments];
    }

    public bool TryReadNext(out ulong gfn, Span<byte> page)
    {
        while (_segment < _segments.Length && _pageInSegment >= _segments[_segment].Pages)
        {
            _segment++;
            _pageInSegment = 0;
        }
        if (_segment == _segments.Length)
        {
            gfn = 0;
            return false;
        }
        var s = _segments[_segment];
        gfn = s.Paddr / PageSize.Bytes + _pageInSegment;
        ulong inSegment = _pageInSegment * PageSize.Bytes;
        int present = (int)Math.Min(PageSize.Bytes, s.Size - inSegment);
        _file.Copy(s.Offset + (long)inSegment, page[..present]);
        page[present..PageSize.Bytes].Clear();
        _pageInSegment++;
        return true;
    }

    public void ReadPage(long index, Span<byte> page)
    {
        if ((ulong)index >= (ulong)Pages) throw new ArgumentOutOfRangeException(nameof(index), $"The image has {Pages} pages, so no page {index}.");
        int i = Array.BinarySearch(_firstPage, index);
        if (i < 0) i = ~i - 1;   // segments are never empty, so first pages are distinct
        var s = _segments[i];
        ulong inSegment = (ulong)(index - _firstPage[i]) * PageSize.Bytes;
        int present = (int)Math.Min(PageSize.Bytes, s.Size - inSegment);
        _file.ReadExactly(s.Offset + (long)inSegment, page[..present]);
        page[present..PageSize.Bytes].Clear();
    }

    private ImageFormatException Bad(long offset, string problem) => new(Path, offset, problem);

    public void Dispose() => _file.Dispose();
}
