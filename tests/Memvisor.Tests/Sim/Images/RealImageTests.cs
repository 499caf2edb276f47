using System.Text.Json;
using Memvisor.Cli;
using Memvisor.Cli.Commands;
using Memvisor.Guest.Images;
using Memvisor.Native;
using Memvisor.Sim.Images;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Sim.Images;

/// <summary><c>memvisor analyze</c> on real guests' memory (the fixtures tools/make-fixtures makes), against the test's own count.</summary>
[Collection(ConsoleCapture.Collection)]
public class RealImageTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-images-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const int Page = RealImages.Page;

    [Fact]
    public void Analyze_counts_real_images_as_an_independent_count_does()
    {
        string[] paths = RealImages.Unpack(_dir);
        var perImage = paths.Select(RealImages.Pages).ToList();
        var all = perImage.SelectMany(p => p).ToList();
        var counts = all.GroupBy(RealImages.Key).ToDictionary(g => g.Key, g => g.Count());

        using var analysis = new ImageAnalysis();
        foreach (var path in paths) analysis.Add(ImageFile.Open(path));

        Assert.Equal(all.Count, analysis.Pages);
        Assert.Equal(perImage.Select(p => (long)p.Count), analysis.PagesPerImage);
        Assert.Equal(all.Count(RealImages.IsZero), analysis.ZeroPages);
        Assert.Equal(perImage.Select(p => (long)p.Count(RealImages.IsZero)), analysis.ZeroPagesPerImage);
        Assert.Equal(counts.Count, analysis.DistinctContents);
        Assert.Equal(perImage.Select(p => (long)p.Select(RealImages.Key).Distinct().Count()), analysis.DistinctPerImage);
        Assert.Equal(all.Count - counts.Count, analysis.SavedPages);
        Assert.Equal(all.Count - counts.Values.Sum(n => (n + 255) / 256), analysis.SavedPagesKsm);
        // Real memory: both guests hold zero pages and repeat pages within themselves, and share some across.
        Assert.True(analysis.ZeroPages > 0 && analysis.SavedWithinImages > analysis.ZeroPages && analysis.SavedAcrossImages > 0,
            $"zero {analysis.ZeroPages}, within {analysis.SavedWithinImages}, across {analysis.SavedAcrossImages}");
        Assert.Equal(0, analysis.HashCollisions);

        // Every page left after sharing is compressed once: the test compresses one page of each non-zero content itself.
        var left = all.Where(p => !RealImages.IsZero(p)).DistinctBy(RealImages.Key).ToList();
        var buffer = new byte[Page];
        var lz4 = left.Select(p => Lz4.Compress(p, buffer)).Select(n => n is > 0 and <= Page ? n : Page).ToList();
        Assert.Equal(left.Count, analysis.PagesLeft);
        Assert.Equal(lz4.Sum(n => (long)n), analysis.Lz4Bytes);
        Assert.Equal((double)lz4.Count(n => n <= Page / 2) / left.Count, analysis.HalfPageFraction, 12);
        Assert.InRange(analysis.ZstdBytes, 1, left.Count * (long)Page);
        Assert.InRange(analysis.PatchedPages, 1, left.Count);
        Assert.InRange(analysis.PatchSavedBytes, analysis.PatchedPages * (Page - analysis.Patching.PatchLimit), analysis.PatchedPages * (long)Page);
    }

    [Fact]
    public void A_sample_estimates_the_codec_figures_the_same_way_on_every_run()
    {
        string[] paths = RealImages.Unpack(_dir);
        ImageAnalysis Run(int sample)
        {
            var a = new ImageAnalysis(sample: sample);
            foreach (var path in paths) a.Add(ImageFile.Open(path));
            return a;
        }
        using var exact = Run(1);
        using var sampled = Run(4);
        using var again = Run(4);
        // The sharing counts never sample.
        Assert.Equal(exact.SavedPages, sampled.SavedPages);
        Assert.Equal(exact.SavedPagesKsm, sampled.SavedPagesKsm);
        Assert.InRange(sampled.Compression.Pages, exact.PagesLeft / 8, exact.PagesLeft / 2);
        Assert.Equal((sampled.Lz4Bytes, sampled.ZstdBytes, sampled.PatchedPages), (again.Lz4Bytes, again.ZstdBytes, again.PatchedPages));
        Assert.InRange((double)sampled.Lz4Bytes / exact.Lz4Bytes, 0.85, 1.15);
        Assert.InRange((double)sampled.ZstdBytes / exact.ZstdBytes, 0.85, 1.15);
    }

    [Fact]
    public void The_json_has_the_issue_s_keys_and_a_bad_image_exits_2_with_nothing_written()
    {
        string[] paths = RealImages.Unpack(_dir);
        string timing = Path.Combine(Path.GetDirectoryName(paths[0])!, "timing.json");
        var (code, stdout, _) = ConsoleCapture.Run(() => AnalyzeCommand.Run(paths, "auto", json: true, 256, 2048, "1", timing));
        Assert.Equal(ExitCodes.Ok, code);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        var all = paths.SelectMany(RealImages.Pages).ToList();
        Assert.Equal(all.Count, root.GetProperty("pages").GetInt64());
        Assert.Equal(paths.Select(p => (long)RealImages.Pages(p).Count), root.GetProperty("pages_per_image").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(all.Count(RealImages.IsZero), root.GetProperty("zero_pages").GetInt64());
        Assert.Equal(all.Select(RealImages.Key).Distinct().Count(), root.GetProperty("distinct_contents").GetInt64());
        Assert.True(root.GetProperty("saved_pages").GetInt64() >= root.GetProperty("saved_pages_ksm").GetInt64());
        foreach (var key in new[] { "lz4_bytes", "zstd_bytes", "half_page_fraction" }) Assert.True(root.GetProperty("compress").TryGetProperty(key, out _), key);
        foreach (var key in new[] { "pages", "saved_bytes" }) Assert.True(root.GetProperty("patching").TryGetProperty(key, out _), key);
        using (var t = JsonDocument.Parse(File.ReadAllText(timing))) Assert.True(t.RootElement.GetProperty("pages_per_second").GetDouble() > 0);

        // The second image cut short inside its memory: refused by file and offset, nothing printed, no timing file.
        var bytes = File.ReadAllBytes(paths[1]);
        File.WriteAllBytes(paths[1], bytes[..(bytes.Length / 2)]);
        File.Delete(timing);
        var (bad, badOut, badErr) = ConsoleCapture.Run(() => AnalyzeCommand.Run(paths, "auto", json: true, 256, 2048, "auto", timing));
        Assert.Equal(ExitCodes.BadInput, bad);
        Assert.Empty(badOut);
        Assert.Contains(paths[1], badErr);
        Assert.Matches(@"at byte \d+", badErr);
        Assert.False(File.Exists(timing));
    }
}
