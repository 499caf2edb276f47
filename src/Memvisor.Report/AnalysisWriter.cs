using System.Text.Json;
using Memvisor.Sim.Images;

namespace Memvisor.Report;

/// <summary>The JSON of <c>memvisor analyze</c>: counts only, so the same images give the same bytes; wall-clock figures go elsewhere.</summary>
public static class AnalysisWriter
{
    public static void Write(Stream output, ImageAnalysis a, IReadOnlyList<(string Path, string Format)> images)
    {
        using var w = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteStartArray("images");
        for (int i = 0; i < images.Count; i++)
        {
            w.WriteStartObject();
            w.WriteString("path", images[i].Path);
            w.WriteString("format", images[i].Format);
            w.WriteNumber("pages", a.PagesPerImage[i]);
            w.WriteNumber("zero_pages", a.ZeroPagesPerImage[i]);
            w.WriteNumber("distinct_contents", a.DistinctPerImage[i]);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNumber("pages", a.Pages);
        w.WriteStartArray("pages_per_image");
        foreach (long p in a.PagesPerImage) w.WriteNumberValue(p);
        w.WriteEndArray();
        w.WriteNumber("zero_pages", a.ZeroPages);
        w.WriteNumber("distinct_contents", a.DistinctContents);
        w.WriteNumber("saved_pages", a.SavedPages);
        w.WriteNumber("saved_pages_within_images", a.SavedWithinImages);
        w.WriteNumber("saved_pages_across_images", a.SavedAcrossImages);
        w.WriteNumber("saved_pages_ksm", a.SavedPagesKsm);
        w.WriteNumber("max_page_sharing", a.MaxPageSharing);
        w.WriteNumber("pages_left", a.PagesLeft);
        w.WriteNumber("sample", a.Sample);
        w.WriteStartObject("compress");
        w.WriteNumber("lz4_bytes", a.Lz4Bytes);
        w.WriteNumber("zstd_bytes", a.ZstdBytes);
        w.WriteNumber("half_page_fraction", Math.Round(a.HalfPageFraction, 6));
        w.WriteNumber("sampled_pages", a.Compression.Pages);
        w.WriteEndObject();
        w.WriteStartObject("patching");
        w.WriteNumber("pages", a.PatchedPages);
        w.WriteNumber("saved_bytes", a.PatchSavedBytes);
        w.WriteNumber("patch_limit_bytes", a.Patching.PatchLimit);
        w.WriteNumber("sampled_pages", a.Patching.Tried);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
