using System.Security.Cryptography;
using Memvisor.Guest.Images;
using Memvisor.Machine.Randomness;
using Memvisor.Sim.Images;
using Memvisor.Tests.Guest.Images;

namespace Memvisor.Tests.Sim.Images;

/// <summary>memvisor analyze's counts against the test's own count over the same files (SHA-256 of every page, nothing of Memvisor's).</summary>
public class ImageAnalysisTests
{
    private const int Page = 4096;

    // Two guests "of one image": zero pages, pages from a shared pool (kernel and libraries, repeated within a guest
    // too), and pages of their own; the second guest's memory has a hole below gfn 1024, as a PC's MMIO hole.
    private static (string A, string B, List<byte[]> AllPages, List<byte[]> PagesA, List<byte[]> PagesB) TwoGuests()
    {
        var rng = new DeterministicRandom(11);
        byte[] Random()
        {
            var p = new byte[Page];
            for (int i = 0; i < Page; i += 8) BitConverter.TryWriteBytes(p.AsSpan(i), rng.NextUInt64());
            return p;
        }
        var pool = Enumerable.Range(0, 40).Select(_ => Random()).ToList();
        List<byte[]> Guest()
        {
            var pages = new List<byte[]>();
            for (int i = 0; i < 500; i++)
            {
                ulong r = rng.NextBelow(10);
                pages.Add(r < 3 ? new byte[Page] : r < 7 ? pool[(int)rng.NextBelow((ulong)pool.Count)] : Random());
            }
            return pages;
        }
        var a = Guest();
        var b = Guest();
        string pa = CoreFile.WriteTemp(CoreFile.Build([(0, [.. a.SelectMany(p => p)])]), "a.elf");
        string pb = CoreFile.WriteTemp(CoreFile.Build([(0, [.. b.Take(200).SelectMany(p => p)]), (1024, [.. b.Skip(200).SelectMany(p => p)])]), "b.elf");
        return (pa, pb, [.. a, .. b], a, b);
    }

    [Fact]
    public void Analyze_counts_pages_zero_pages_distinct_contents_and_ideal_savings_as_an_independent_count_does()
    {
        var (a, b, all, pagesA, pagesB) = TwoGuests();
        using var analysis = new ImageAnalysis();
        analysis.Add(ImageFile.Open(a));
        analysis.Add(ImageFile.Open(b));

        static string Key(byte[] p) => Convert.ToHexString(SHA256.HashData(p));
        var counts = all.GroupBy(Key).ToDictionary(g => g.Key, g => g.Count());
        int zeros = all.Count(p => p.All(x => x == 0));
        Assert.Equal(all.Count, analysis.Pages);
        Assert.Equal([500L, 500L], analysis.PagesPerImage);
        Assert.Equal(zeros, analysis.ZeroPages);
        Assert.Equal(counts.Count, analysis.DistinctContents);
        Assert.Equal(all.Count - counts.Count, analysis.SavedPages);
        long within = pagesA.Count - pagesA.Select(Key).Distinct().Count() + pagesB.Count - pagesB.Select(Key).Distinct().Count();
        Assert.Equal(within, analysis.SavedWithinImages);
        Assert.True(analysis.SavedAcrossImages > 0);
        // KSM keeps one copy per 256 pages of a content: the zero page, held by about 300 pages, keeps two.
        long kept = counts.Values.Sum(n => (n + 255) / 256);
        Assert.Equal(all.Count - kept, analysis.SavedPagesKsm);
        Assert.True(analysis.SavedPagesKsm < analysis.SavedPages);
    }

    [Fact]
    public void A_page_a_few_bytes_from_a_kept_page_is_stored_as_a_small_patch_and_an_unrelated_page_is_not()
    {
        var rng = new DeterministicRandom(5);
        byte[] Random()
        {
            var p = new byte[Page];
            for (int i = 0; i < Page; i += 8) BitConverter.TryWriteBytes(p.AsSpan(i), rng.NextUInt64());
            return p;
        }
        var kept = Random();
        var near = (byte[])kept.Clone();
        for (int i = 100; i < 116; i++) near[i] ^= 0x5A;          // a changed counter and pointer, say
        var shifted = (byte[])kept.Clone();
        for (int i = 2752; i < 2816; i++) shifted[i] ^= 0xFF;    // one similarity block changed: the other still finds it
        var unrelated = Random();
        string path = CoreFile.WriteTemp(CoreFile.Build([(0, [.. kept, .. near, .. shifted, .. unrelated])]), "patch.elf");

        using var analysis = new ImageAnalysis();
        analysis.Add(ImageFile.Open(path));

        Assert.Equal(4, analysis.PagesLeft);
        Assert.Equal(4, analysis.Patching.Tried);
        Assert.Equal(2, analysis.PatchedPages);
        // Each patch is an LZ4 block of a page that is zero but for 16 or 64 bytes: well under 200 bytes.
        Assert.InRange(analysis.PatchSavedBytes, 2 * (Page - 200), 2 * (Page - 16));

        using var strict = new ImageAnalysis(patchLimit: 16);
        strict.Add(ImageFile.Open(path));
        Assert.Equal(0, strict.PatchedPages);
    }
}
