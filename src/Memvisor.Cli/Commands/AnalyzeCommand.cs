using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Memvisor.Guest.Images;
using Memvisor.Machine.Frames;
using Memvisor.Report;
using Memvisor.Report.Output;
using Memvisor.Sim.Images;
using Spectre.Console;

namespace Memvisor.Cli.Commands;

/// <summary><c>memvisor analyze IMAGE...</c>: what sharing, compression and patching would save on real guests' memory images.</summary>
public static class AnalyzeCommand
{
    public static Command Build()
    {
        var images = new Argument<string[]>("images")
        {
            Description = "Memory images: ELF cores from QEMU's dump-guest-memory or virsh dump --memory-only, or raw guest-physical images with --format raw.",
            Arity = ArgumentArity.OneOrMore,
        };
        var format = new Option<string>("--format") { Description = "auto (ELF cores, by their magic), elf, or raw (a flat guest-physical image).", DefaultValueFactory = _ => "auto" };
        format.AcceptOnlyFromAmong([.. ImageFile.Formats]);
        var json = new Option<bool>("--json") { Description = "Print the counts as JSON (the same images give the same bytes) instead of tables." };
        var maxPageSharing = new Option<int>("--max-page-sharing") { Description = "Pages a KSM-like sharer lets share one copy (Linux's max_page_sharing).", DefaultValueFactory = _ => 256 };
        var patchLimit = new Option<int>("--patch-limit") { Description = "Largest patch, in bytes, for which a similar page is stored as a patch.", DefaultValueFactory = _ => PatchTally.DefaultPatchLimit };
        var sample = new Option<string>("--sample")
        {
            Description = "Compress and try to patch one in N pages left after sharing, and scale up; 1 does every page. The sharing counts are always exact. " +
                          "Default auto: every page of images up to 64 MiB, else about 16 Ki pages in all.",
            DefaultValueFactory = _ => "auto",
        };
        var timing = new Option<string?>("--timing") { Description = "Also write the wall-clock figures (seconds, pages per second, per CPU second) to this JSON file." };
        var command = new Command("analyze", "Count what content-based page sharing (ideal and KSM-like), LZ4 and zstd compression, and Difference Engine-style patching would save on real guests' memory images, within and across images.")
        {
            images, format, json, maxPageSharing, patchLimit, sample, timing,
        };
        command.SetAction(p => Run(p.GetValue(images)!, p.GetValue(format)!, p.GetValue(json), p.GetValue(maxPageSharing), p.GetValue(patchLimit), p.GetValue(sample)!, p.GetValue(timing), Interrupt.Token));
        return command;
    }

    public static int Run(string[] paths, string format, bool json, int maxPageSharing, int patchLimit, string sampleArg, string? timingPath, CancellationToken cancel = default) =>
        Guard.Run(() => RunGuarded(paths, format, json, maxPageSharing, patchLimit, sampleArg, timingPath, cancel));

    private static int RunGuarded(string[] paths, string format, bool json, int maxPageSharing, int patchLimit, string sampleArg, string? timingPath, CancellationToken cancel)
    {
        if (maxPageSharing < 2)
        {
            Console.Error.WriteLine($"memvisor: --max-page-sharing: {maxPageSharing} is too small; a shared page has at least 2 sharers (Linux refuses less than 2).");
            return ExitCodes.BadInput;
        }
        if (patchLimit is < 1 or >= PageSize.Bytes)
        {
            Console.Error.WriteLine($"memvisor: --patch-limit: {patchLimit} bytes is not between 1 and {PageSize.Bytes - 1}; a patch must be smaller than the page it stands for.");
            return ExitCodes.BadInput;
        }
        int sample = 0;
        if (sampleArg != "auto" && (!int.TryParse(sampleArg, out sample) || sample < 1))
        {
            Console.Error.WriteLine($"memvisor: --sample: '{sampleArg}' is not a sampling rate; give auto, 1 to compress every page, or N to compress one in N.");
            return ExitCodes.BadInput;
        }

        // The timing file is checked before the long part starts, and may replace only an earlier one.
        using var timingFile = timingPath is null ? null : OutputFile.Prepare(timingPath, "analyze timing figures", IsTiming);

        // Every header is checked before any page is read, so a bad image is refused before the long part starts.
        var opened = new List<IMemoryImage>();
        try
        {
            foreach (var path in paths) opened.Add(ImageFile.Open(path, format));
        }
        catch (Exception e) when (e is ImageFormatException or IOException or UnauthorizedAccessException)
        {
            foreach (var image in opened) image.Dispose();
            Console.Error.WriteLine($"memvisor: an image was refused; nothing was analyzed. {Errors.Printable(e.Message)}");
            return ExitCodes.BadInput;
        }

        if (sample == 0) sample = ImageAnalysis.AutoSample(opened.Sum(i => i.Pages));
        using var analysis = new ImageAnalysis(maxPageSharing, patchLimit, sample);
        var wall = Stopwatch.StartNew();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        try
        {
            Analyze(analysis, opened, showProgress: !json, cancel);
        }
        catch (Exception e) when (e is ImageFormatException or IOException)
        {
            Console.Error.WriteLine($"memvisor: an image could not be read to its end; nothing was reported. {Errors.Printable(e.Message)}");
            return ExitCodes.BadInput;
        }
        finally
        {
            // The analysis disposes the images it took; any it did not get to are disposed here.
            foreach (var image in opened.Skip(analysis.ImagesTaken)) image.Dispose();
        }
        double seconds = wall.Elapsed.TotalSeconds;
        double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        var throughput = new Throughput(analysis.Pages, seconds, cpuSeconds, analysis.EstimateTime.TotalSeconds, analysis.Compression.Pages);

        var described = opened.Select(i => (i.Path, i.Format)).ToList();
        if (timingFile is not null)
        {
            using (var stream = timingFile.OpenWrite()) WriteTiming(stream, throughput);
            timingFile.Commit();
        }
        if (json)
        {
            using var buffer = new MemoryStream();
            AnalysisWriter.Write(buffer, analysis, described);
            Console.Out.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
        }
        else
        {
            Print(analysis, described, throughput);
        }
        return ExitCodes.Ok;
    }

    // EstimateSeconds is the part spent compressing and patching the sample; the rest is reading and the sharing scan.
    private sealed record Throughput(long Pages, double Seconds, double CpuSeconds, double EstimateSeconds, long SampledPages)
    {
        public double PagesPerSecond => Seconds > 0 ? Pages / Seconds : 0;
        public double PagesPerCpuSecond => CpuSeconds > 0 ? Pages / CpuSeconds : 0;
        public double ScanPagesPerSecond => Seconds - EstimateSeconds > 0 ? Pages / (Seconds - EstimateSeconds) : 0;
    }

    private static void Analyze(ImageAnalysis analysis, List<IMemoryImage> images, bool showProgress, CancellationToken cancel)
    {
        if (!showProgress || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            foreach (var image in images) analysis.Add(image, cancel: cancel);
            return;
        }
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var tasks = images.Select(i => ctx.AddTask(Markup.Escape(Path.GetFileName(i.Path)), maxValue: Math.Max(1, i.Pages))).ToList();
                for (int i = 0; i < images.Count; i++)
                {
                    var task = tasks[i];
                    analysis.Add(images[i], read => task.Value = read, cancel);
                    task.Value = task.MaxValue;
                }
            });
    }

    private const string TimingFormat = "memvisor-analyze-timing";

    private static void WriteTiming(Stream file, Throughput t)
    {
        using var w = new Utf8JsonWriter(file, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("format", TimingFormat);
        w.WriteNumber("pages", t.Pages);
        w.WriteNumber("wall_seconds", Math.Round(t.Seconds, 3));
        w.WriteNumber("cpu_seconds", Math.Round(t.CpuSeconds, 3));
        w.WriteNumber("pages_per_second", Math.Round(t.PagesPerSecond));
        w.WriteNumber("pages_per_cpu_second", Math.Round(t.PagesPerCpuSecond));
        w.WriteNumber("estimate_seconds", Math.Round(t.EstimateSeconds, 3));
        w.WriteNumber("sampled_pages", t.SampledPages);
        w.WriteNumber("scan_pages_per_second", Math.Round(t.ScanPagesPerSecond));
        w.WriteEndObject();
    }

    // An earlier timing file of analyze's: a small JSON object whose format says so.
    private static bool IsTiming(string path)
    {
        try
        {
            if (new FileInfo(path).Length > 64 << 10) return false;
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("format", out var f)
                && f.ValueKind == JsonValueKind.String && f.GetString() == TimingFormat;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return false;
        }
    }

    private static void Print(ImageAnalysis a, List<(string Path, string Format)> images, Throughput t)
    {
        var perImage = new Table().AddColumns("image", "format", "pages", "MiB", "zero pages", "distinct contents");
        for (int i = 0; i < images.Count; i++)
            perImage.AddRow(Markup.Escape(images[i].Path), images[i].Format, $"{a.PagesPerImage[i]:N0}", $"{PageSize.ToMiB(a.PagesPerImage[i]):N0}",
                $"{a.ZeroPagesPerImage[i]:N0} ({Share(a.ZeroPagesPerImage[i], a.PagesPerImage[i])})", $"{a.DistinctPerImage[i]:N0}");
        AnsiConsole.Write(perImage);

        var savings = new Table().AddColumns("mechanism", "saves", "share of all pages");
        long all = a.Pages;
        savings.AddRow("ideal sharing", $"{a.SavedPages:N0} pages", Share(a.SavedPages, all));
        savings.AddRow("  within each image", $"{a.SavedWithinImages:N0} pages", Share(a.SavedWithinImages, all));
        savings.AddRow("  across images", $"{a.SavedAcrossImages:N0} pages", Share(a.SavedAcrossImages, all));
        savings.AddRow($"KSM-like sharing (max_page_sharing {a.MaxPageSharing})", $"{a.SavedPagesKsm:N0} pages", Share(a.SavedPagesKsm, all));
        long leftBytes = a.PagesLeft * PageSize.Bytes;
        savings.AddRow("LZ4 on the pages left", MiB(leftBytes - a.Lz4Bytes), Share((leftBytes - a.Lz4Bytes) / PageSize.Bytes, all));
        savings.AddRow("zstd on the pages left", MiB(leftBytes - a.ZstdBytes), Share((leftBytes - a.ZstdBytes) / PageSize.Bytes, all));
        savings.AddRow($"patching (patches up to {a.Patching.PatchLimit} bytes)", $"{a.PatchedPages:N0} pages, {MiB(a.PatchSavedBytes)}", Share(a.PatchSavedBytes / PageSize.Bytes, all));
        AnsiConsole.Write(savings);
        string sampled = a.Sample == 1 ? "" : $" (from a sample of {a.Compression.Pages:N0}, one in {a.Sample})";
        AnsiConsole.MarkupLine($"{a.Pages:N0} pages, {a.DistinctContents:N0} distinct contents. Of the {a.PagesLeft:N0} pages left after sharing{sampled}, " +
            $"{a.HalfPageFraction:P1} compress to half a page or less with LZ4 (what an ESX-like compression cache would hold).");
        AnsiConsole.MarkupLine($"Analyzed in {t.Seconds:0.00} s: [bold]{t.PagesPerSecond:N0} pages/s[/] ({t.PagesPerCpuSecond:N0} per CPU second); " +
            $"reading and the sharing scan {t.ScanPagesPerSecond:N0} pages/s, compressing and patching the {t.SampledPages:N0} sampled pages {t.EstimateSeconds:0.00} s.");
    }

    private static string MiB(long bytes) => $"{bytes / 1048576.0:N1} MiB";

    private static string Share(long part, long whole) => whole == 0 ? "-" : $"{(double)part / whole:P1}";
}
