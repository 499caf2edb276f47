using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using Memvisor.Guest.Images;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Guest.Images;

/// <summary>Reading guest memory images: ELF cores as QEMU writes them, flat raw images, and bad files refused with their offset.</summary>
public class ElfCoreImageTests
{
    private const int Page = 4096;

    /// <summary>
    /// A core like QEMU's: ELF header, a PT_NOTE, then two PT_LOAD segments: gfns 0..2 (full, each page filled with
    /// its gfn + 1) and gfns 256..257 (one and a half pages: the last one zero-padded).
    /// </summary>
    internal static byte[] SampleCore()
    {
        var low = new byte[3 * Page];
        for (int i = 0; i < 3; i++) low.AsSpan(i * Page, Page).Fill((byte)(i + 1));
        var high = new byte[Page + Page / 2];
        high.AsSpan().Fill(0xEE);
        return CoreFile.Build([(0, low), (256, high)]);
    }

    private static string Write(byte[] bytes, string name = "core.elf") => CoreFile.WriteTemp(bytes, name);

    private static List<(ulong Gfn, byte[] Bytes)> ReadAll(IMemoryImage image)
    {
        var pages = new List<(ulong, byte[])>();
        var buffer = new byte[Page];
        while (image.TryReadNext(out ulong gfn, buffer)) pages.Add((gfn, (byte[])buffer.Clone()));
        return pages;
    }

    [Fact]
    public void An_elf_core_gives_each_load_segment_s_pages_at_their_guest_frames_with_a_last_partial_page_zero_padded()
    {
        string path = Write(SampleCore());
        using var image = ImageFile.Open(path);
        Assert.Equal(("elf", 5L, 258UL), (image.Format, image.Pages, image.GfnLimit));
        var pages = ReadAll(image);
        Assert.Equal([0UL, 1, 2, 256, 257], pages.Select(p => p.Gfn));
        for (int i = 0; i < 3; i++) Assert.All(pages[i].Bytes, b => Assert.Equal((byte)(i + 1), b));
        Assert.All(pages[3].Bytes, b => Assert.Equal(0xEE, b));
        Assert.All(pages[4].Bytes.Take(Page / 2), b => Assert.Equal(0xEE, b));
        Assert.All(pages[4].Bytes.Skip(Page / 2), b => Assert.Equal(0, b));
    }

    [Fact]
    public void A_raw_image_is_read_only_when_asked_for_and_its_last_partial_page_is_zero_padded()
    {
        var bytes = new byte[2 * Page + 100];
        bytes.AsSpan().Fill(7);
        string path = Write(bytes, "guest.raw");
        var refused = Assert.Throws<ImageFormatException>(() => ImageFile.Open(path));
        Assert.Equal(0, refused.Offset);
        Assert.Contains("not an ELF core", refused.Message);
        Assert.Contains(path, refused.Message);
        using var image = ImageFile.Open(path, "raw");
        var pages = ReadAll(image);
        Assert.Equal([0UL, 1, 2], pages.Select(p => p.Gfn));
        Assert.Equal(100, pages[2].Bytes.Count(b => b == 7));
        // Reading a page again by its index gives the same bytes, padding included.
        var again = new byte[Page];
        image.ReadPage(2, again);
        Assert.Equal(pages[2].Bytes, again);
        Assert.Throws<ArgumentOutOfRangeException>(() => image.ReadPage(3, again));
    }

    [Theory]
    [InlineData(0, 0x7E, 0, "ELF magic")]
    [InlineData(4, 1, 4, "not 2 (ELF64)")]
    [InlineData(16, 2, 16, "not a core file")]
    [InlineData(54, 40, 54, "e_phentsize")]
    [InlineData(64 + 56 + 41, 1, 64 + 56 + 32, "differs from its p_memsz")]
    public void A_bad_header_field_is_refused_at_its_offset(int at, byte value, long offset, string message)
    {
        var bytes = SampleCore();
        bytes[at] = value;
        string path = Write(bytes);
        var e = Assert.Throws<ImageFormatException>(() => new ElfCoreImage(path));
        Assert.Equal(offset, e.Offset);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_truncated_core_is_refused_before_any_page_is_read()
    {
        var bytes = SampleCore();
        string path = Write(bytes[..^10]);
        var e = Assert.Throws<ImageFormatException>(() => new ElfCoreImage(path));
        Assert.Contains("truncated", e.Message);
        Assert.Equal(64 + 2 * 56 + 8, e.Offset);                        // segment 2's p_offset field
    }

    public enum Damage { Truncate, FlipByte, OverwriteWord }

    [Fact]
    public void Any_truncated_or_corrupted_core_is_read_consistently_or_refused_with_an_offset_inside_the_file()
    {
        var good = SampleCore();
        var gen =
            from damage in Gen.Elements(Damage.Truncate, Damage.FlipByte, Damage.OverwriteWord)
            from at in Gen.Choose(0, 64 + 3 * 56 + 8)
            from value in Gen.Choose(0, int.MaxValue)
            from length in Gen.Choose(0, good.Length - 1)
            select (damage, at, value, length);
        int refused = 0, read = 0;
        string dir = Path.GetDirectoryName(Write([0]))!;
        Properties.Check(gen, c =>
        {
            byte[] bytes = c.damage == Damage.Truncate ? good[..c.length] : (byte[])good.Clone();
            if (c.damage == Damage.FlipByte) bytes[c.at] ^= (byte)(1 << (c.value % 8));
            if (c.damage == Damage.OverwriteWord) BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(c.at & ~7), (ulong)c.value * 0x9E3779B97F4A7C15UL);
            string path = Path.Combine(dir, "fuzz.elf");
            File.WriteAllBytes(path, bytes);
            try
            {
                using var image = new ElfCoreImage(path);
                var pages = ReadAll(image);
                Assert.Equal(image.Pages, pages.Count);
                Assert.All(pages, p => Assert.True(p.Gfn < image.GfnLimit));
                Assert.Equal(pages.Count, pages.Select(p => p.Gfn).Distinct().Count());
                // Any page read again by its index (as analyze does to compare) is the page read in order.
                var again = new byte[Page];
                int index = c.value % pages.Count;
                image.ReadPage(index, again);
                Assert.Equal(pages[index].Bytes, again);
                read++;
            }
            catch (ImageFormatException e)
            {
                Assert.InRange(e.Offset, 0, bytes.Length);
                Assert.StartsWith(path, e.Message);
                refused++;
            }
        }, maxTest: 2000);
        Assert.True(refused > 100 && read > 100, $"{refused} refused, {read} read");
    }
}
