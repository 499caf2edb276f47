using System.IO.Compression;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;

namespace Memvisor.Tests.Machine;

public class ContentTests
{
    private static byte[] Bytes(ContentHandle h)
    {
        var page = new byte[PageSize.Bytes];
        new ContentStore().Read(h, page);
        return page;
    }

    private static double DeflateRatio(byte[] page)
    {
        using var ms = new MemoryStream();
        using (var z = new DeflateStream(ms, CompressionLevel.Optimal, leaveOpen: true)) z.Write(page);
        return (double)ms.Length / page.Length;
    }

    [Fact]
    public void The_store_keeps_one_copy_per_distinct_content_and_counts_references()
    {
        var store = new ContentStore();
        var page = Bytes(ContentHandle.Synthetic(ContentClass.Incompressible, 9));
        var a = store.Store(page);
        var b = store.Store(page.ToArray());
        Assert.Equal(a, b);
        Assert.Equal(1, store.DistinctContents);
        Assert.Equal(2, store.ReferenceCount(a));
        page[100] ^= 1;
        var c = store.Store(page);
        Assert.NotEqual(a, c);
        Assert.Equal(2, store.DistinctContents);
        store.Release(a);
        store.Release(b);
        Assert.Equal(1, store.DistinctContents);
        var read = new byte[PageSize.Bytes];
        store.Read(c, read);
        Assert.Equal(page, read);
    }

    [Fact]
    public void A_zero_page_is_never_stored()
    {
        var store = new ContentStore();
        Assert.True(store.Store(new byte[PageSize.Bytes]).IsZero);
        Assert.Equal(0, store.DistinctContents);
    }

    [Fact]
    public void Kernel_text_is_the_same_for_guests_of_one_image_and_differs_across_images()
    {
        var a = Bytes(ContentHandle.ImagePage(ContentClass.KernelText, 1, 17));
        var b = Bytes(ContentHandle.ImagePage(ContentClass.KernelText, 1, 17));
        var other = Bytes(ContentHandle.ImagePage(ContentClass.KernelText, 2, 17));
        var nextPage = Bytes(ContentHandle.ImagePage(ContentClass.KernelText, 1, 18));
        Assert.Equal(a, b);
        Assert.NotEqual(a, other);
        Assert.NotEqual(a, nextPage);
    }

    [Fact]
    public void Content_classes_have_the_compressibility_of_their_kind()
    {
        double zero = DeflateRatio(Bytes(ContentHandle.Zero));
        double text = DeflateRatio(Bytes(ContentHandle.Synthetic(ContentClass.Compressible, 5)));
        double code = DeflateRatio(Bytes(ContentHandle.ImagePage(ContentClass.KernelText, 1, 5)));
        double random = DeflateRatio(Bytes(ContentHandle.Synthetic(ContentClass.Incompressible, 5)));
        Assert.True(zero < 0.01, $"zero page ratio {zero}");
        Assert.True(text < 0.5, $"compressible ratio {text}");
        Assert.True(code > text && code < 0.9, $"code ratio {code}");
        Assert.True(random > 0.98, $"incompressible ratio {random}");
    }

    [Fact]
    public void Writing_real_bytes_to_a_frame_reads_them_back_and_releases_the_old_content()
    {
        var m = new MachineMemory(64, 1);
        Assert.True(m.TryAllocate(0, 0, 1, out uint mfn));
        var page = Bytes(ContentHandle.Synthetic(ContentClass.Incompressible, 77));
        m.WriteFrame(mfn, page);
        var read = new byte[PageSize.Bytes];
        m.ReadFrame(mfn, read);
        Assert.Equal(page, read);
        Assert.Equal(1, m.Contents.DistinctContents);
        m.SetContent(mfn, ContentHandle.Synthetic(ContentClass.Compressible, 1));
        Assert.Equal(0, m.Contents.DistinctContents);
    }

    [Fact]
    public void Peeking_a_word_agrees_with_reading_it_for_private_and_zero_frames_and_declines_the_rest()
    {
        var m = new MachineMemory(64, 1);
        Assert.True(m.TryAllocate(0, 0, 1, out uint zero));
        Assert.True(m.TryAllocate(0, 0, 1, out uint written));
        Assert.True(m.TryAllocate(0, 0, 1, out uint synthetic));
        m.SetContent(synthetic, ContentHandle.Synthetic(ContentClass.Incompressible, 3));
        var rng = new Random(5);
        for (int i = 0; i < 64; i++) m.WriteWord(written, rng.Next(512), (ulong)rng.NextInt64());
        for (int index = 0; index < 512; index++)
        {
            Assert.True(m.TryPeekWord(zero, index, out ulong z));
            Assert.Equal(m.ReadWord(zero, index), z);
            Assert.True(m.TryPeekWord(written, index, out ulong w));
            Assert.Equal(m.ReadWord(written, index), w);
            Assert.False(m.TryPeekWord(synthetic, index, out _));
        }
        Assert.NotEqual(0UL, m.ReadWord(synthetic, 0));
        Assert.False(m.TryPeekWord((uint)m.TotalFrames, 0, out _));
    }
}
